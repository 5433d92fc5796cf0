"""The text tower of the tagger encoders: all-MiniLM-L6-v2 sentence embeddings.

Sentence-transformers' recipe for this model: mean of the last hidden states over the
real (unpadded) tokens, then L2 normalisation. Every candidate text is embedded here, so
on a CPU it runs on ONNX Runtime by default (``models.text_backend``), to float rounding
of torch's vectors.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from cgcap.encoders.base import batches, normalised
from cgcap.models.onnx_text import OnnxTextTower, TextBackend, resolve_text_backend, sentence_tower


class SentenceEmbedder:
    """``embed_texts(texts) -> [n, 384]`` unit vectors from a MiniLM (BERT) folder."""

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 256, max_length: int = 128,
                 backend: TextBackend = "torch", int8: bool = False):
        from transformers import AutoModel, AutoTokenizer

        from cgcap.models.quiet import hide_weight_loading_bars

        hide_weight_loading_bars()  # also when built outside models.load

        self.source = str(folder)
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(device).eval()
        self.batch_size = batch_size
        self.max_length = max_length  # captions are short; this bounds a hostile prompt's cost
        self._key = (resolve_text_backend(backend, device, int8), int8)
        self._onnx: OnnxTextTower | None = None
        if self._key[0] == "onnx":
            self._onnx = sentence_tower(self.model, self.tokenizer, max_length=max_length, int8=int8)
        self._variants: dict[tuple[str, bool], SentenceEmbedder] = {}

    def on_backend(self, backend: TextBackend, int8: bool = False) -> "SentenceEmbedder":
        """This embedder (the same weights) running on ``backend``; each backend is made once and kept,
        since one MiniLM per process serves both taggers."""
        key = (resolve_text_backend(backend, self.device, int8), int8)
        chosen = key[0]
        if key == self._key:
            return self
        if key not in self._variants:
            variant = copy.copy(self)
            variant._key, variant._variants = key, {}
            variant._onnx = (sentence_tower(self.model, self.tokenizer, max_length=self.max_length, int8=int8)
                             if chosen == "onnx" else None)
            self._variants[key] = variant
        return self._variants[key]

    @property
    def backend(self) -> str:
        if self._onnx is None:
            return "torch"
        return "onnx-int8" if self._onnx.int8 else "onnx"

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        texts = list(texts)
        if not texts:
            return torch.empty(0, self.dim)
        if self._onnx is not None:
            return normalised(torch.from_numpy(self._onnx.vectors(texts)))
        return torch.cat([self._embed_batch(list(chunk)) for chunk in batches(texts, self.batch_size)])

    @torch.inference_mode()
    def _embed_batch(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tokens = {name: tensor.to(self.device) for name, tensor in tokens.items()}
        hidden = self.model(**tokens).last_hidden_state  # [n, length, dim]
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [n, length, 1]
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return normalised(mean)
