"""The guidance classifier at decode time: texts in, P(label 1 | text) out.

Any sequence-classification spec of the model store loads here (``tiny:bert-classifier``,
``minilm-l6``, ``minilm-l6-audibility``, ``models:/audibility-classifier@champion``, a
folder, a hub id). Trained folders carry ``cgcap_classifier.json`` (what it was trained
on, with which prefix), so evaluation can apply the same prefix the training used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel

from cgcap.models import LoadedModel, load, resolve_device
from cgcap.models.onnx_text import BATCH_SIZE as ONNX_BATCH_SIZE
from cgcap.models.onnx_text import ClassifierLogits, OnnxTextTower, TextBackend, resolve_text_backend, run_by_length

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
    """A ``CandidateScorer``: ``score(texts)`` = softmax(logits)[:, 1], batched, no gradients.

    ``backend``: ``torch``, ``onnx`` (ONNX Runtime, CPU; the same scores to float rounding,
    faster) or ``auto`` (onnx on a CPU, torch in half precision on a GPU). ``int8`` runs the
    ONNX graph with int8 weights: faster, with scores that differ by more than rounding.
    """

    def __init__(self, loaded: LoadedModel, batch_size: int = 256, max_length: int = 64,
                 backend: TextBackend = "torch", int8: bool = False):
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.tokenizer = loaded.tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.metadata = read_metadata(loaded.source)
        self.device = next(self.model.parameters()).device
        self.backend = resolve_text_backend(backend, self.device, int8)
        self.int8 = int8
        self._onnx = None
        if self.backend == "onnx":
            self._onnx = OnnxTextTower(ClassifierLogits(self.model), self.tokenizer, max_length=max_length,
                                       batch_size=min(batch_size, ONNX_BATCH_SIZE), int8=int8)
        elif self.device.type == "cuda":
            self.model.half()  # scores only, no gradients: half precision is enough on a GPU

    @classmethod
    def load(cls, spec: str, device: str = "cpu", batch_size: int = 256, backend: TextBackend = "auto",
             int8: bool = False) -> "TextClassifier":
        return cls(load(spec, task="sequence-classifier", device=resolve_device(device)), batch_size=batch_size,
                   backend=backend, int8=int8)

    @property
    def spec(self) -> str:
        return self.loaded.spec

    @property
    def prefix(self) -> str:
        """The prefix the training put before every sentence ("" for untrained bases)."""
        return self.metadata.prefix if self.metadata else ""

    @torch.inference_mode()
    def _torch_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        logits = self.model(input_ids=torch.from_numpy(input_ids).to(self.device),
                            attention_mask=torch.from_numpy(attention_mask).to(self.device)).logits
        return logits.float().cpu().numpy()

    def score(self, texts: list[str]) -> torch.Tensor:
        """P(label 1 | text) for each text, float32 on the CPU."""
        if not texts:
            return torch.zeros(0)
        distinct = list(dict.fromkeys(texts))  # each text tokenised and scored once
        if self._onnx is not None:
            logits = self._onnx.vectors(distinct)
        else:
            logits = run_by_length(distinct, self.tokenizer, self.max_length, self.batch_size, self._torch_logits)
        scores = torch.softmax(torch.from_numpy(logits), dim=-1)[:, 1]
        if len(distinct) == len(texts):
            return scores
        row = {text: index for index, text in enumerate(distinct)}
        return scores[torch.tensor([row[text] for text in texts])]
