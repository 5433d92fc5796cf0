"""The text tower of the tagger encoders: all-MiniLM-L6-v2 sentence embeddings.

Sentence-transformers' recipe for this model: mean of the last hidden states over the
real (unpadded) tokens, then L2 normalisation. Kept a small class of its own so that a
faster backend (e.g. ONNX Runtime) can stand in with the same ``embed_texts``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cgcap.encoders.base import batches, normalised


class SentenceEmbedder:
    """``embed_texts(texts) -> [n, 384]`` unit vectors from a MiniLM (BERT) folder."""

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 256, max_length: int = 128):
        from transformers import AutoModel, AutoTokenizer

        from cgcap.models.quiet import hide_weight_loading_bars

        hide_weight_loading_bars()  # also when built outside models.load

        self.source = str(folder)
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(device).eval()
        self.batch_size = batch_size
        self.max_length = max_length  # captions are short; this bounds a hostile prompt's cost

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        texts = list(texts)
        if not texts:
            return torch.empty(0, self.dim)
        return torch.cat([self._embed_batch(list(chunk)) for chunk in batches(texts, self.batch_size)])

    @torch.inference_mode()
    def _embed_batch(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tokens = {name: tensor.to(self.device) for name, tensor in tokens.items()}
        hidden = self.model(**tokens).last_hidden_state  # [n, length, dim]
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [n, length, 1]
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return normalised(mean)
