"""The guidance classifier at decode time: texts in, P(label 1 | text) out.

Any sequence-classification spec of the model store loads here (``tiny:bert-classifier``,
``minilm-l6``, ``minilm-l6-audibility``, ``models:/audibility-classifier@champion``, a
folder, a hub id). Trained folders carry ``cgcap_classifier.json`` (what it was trained
on, with which prefix), so evaluation can apply the same prefix the training used.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from pydantic import BaseModel

from cgcap.models import LoadedModel, load, resolve_device

METADATA_FILE = "cgcap_classifier.json"


class ClassifierMetadata(BaseModel):
    """Written beside the safetensors weights by training."""

    base: str
    prefix: str = ""
    dataset_hash: str = ""
    split_seed: int = 0
    label_names: list[str] = ["label 0", "label 1"]
    test_metrics: dict[str, float] = {}


def read_metadata(folder: str | Path | None) -> ClassifierMetadata | None:
    if not folder:
        return None
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return None
    return ClassifierMetadata.model_validate(json.loads(path.read_text()))


class TextClassifier:
    """A ``CandidateScorer``: ``score(texts)`` = softmax(logits)[:, 1], batched, no gradients."""

    def __init__(self, loaded: LoadedModel, batch_size: int = 256, max_length: int = 64):
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.metadata = read_metadata(loaded.source)
        self.device = next(self.model.parameters()).device
        if self.device.type == "cuda":
            self.model.half()  # scores only, no gradients: half precision is enough on a GPU

    @classmethod
    def load(cls, spec: str, device: str = "cpu", batch_size: int = 256) -> "TextClassifier":
        return cls(load(spec, task="sequence-classifier", device=resolve_device(device)), batch_size=batch_size)

    @property
    def spec(self) -> str:
        return self.loaded.spec

    @property
    def prefix(self) -> str:
        """The prefix the training put before every sentence ("" for untrained bases)."""
        return self.metadata.prefix if self.metadata else ""

    @torch.inference_mode()
    def score(self, texts: list[str]) -> torch.Tensor:
        """P(label 1 | text) for each text, float32 on the CPU."""
        if not texts:
            return torch.zeros(0)
        scores = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            ).to(self.device)
            logits = self.model(**batch).logits.float()
            scores.append(torch.softmax(logits, dim=-1)[:, 1].cpu())
        return torch.cat(scores)
