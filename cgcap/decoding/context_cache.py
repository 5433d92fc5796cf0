"""The context cache C (attention keys and values of the text so far) and its shift Δ.

docs/ALGORITHM.md nudges C by Δ at every token. Here C is held as plain tensors, one
``(K, V)`` pair per layer, each ``[rows, kv_heads, positions, head_dim]`` (grouped-query
models simply have fewer kv_heads), and a fresh transformers ``DynamicCache`` is built
from ``C + Δ`` for each forward pass, because the model's forward appends to the cache
object it is given.

Rows are the beams of every caption in a batch. A caption that joins a running batch has
a shorter text than the rows already there, so its rows are padded on the left; the
padding is masked out of attention and each row is given its own position. Masked keys
get no attention and so no gradient: Δ stays zero there, and each row's loss and update
are what they would be alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import DynamicCache

KeyValue = tuple[torch.Tensor, torch.Tensor]


class ContextCache:
    """Keys and values of every layer for a batch of rows; immutable from outside."""

    def __init__(self, layers: list[KeyValue], config, pads: torch.Tensor | None = None):
        self.layers = layers
        self.config = config
        # [rows]: positions of left padding before each row's text (zeros: no row is padded)
        self.pads = pads if pads is not None else torch.zeros(self.rows, dtype=torch.long)

    @property
    def rows(self) -> int:
        return self.layers[0][0].shape[0]

    @property
    def length(self) -> int:
        return self.layers[0][0].shape[2]

    @classmethod
    def from_past(cls, past, config, pads: torch.Tensor | None = None) -> "ContextCache":
        """From a model output's ``cache`` (a transformers 5 cache object)."""
        layers = []
        for layer in past.layers:
            if layer.keys is None or layer.keys.numel() == 0:
                raise ValueError("the language model's cache has an empty layer; it is not a key/value cache")
            layers.append((layer.keys.detach(), layer.values.detach()))
        return cls(layers, config, pads)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """The attention mask and positions of the next token, when some rows are padded (else none: the
        model's own positions are right, and an unpadded batch runs exactly as it always has)."""
        if not bool(self.pads.any()):
            return {}
        device = self.layers[0][0].device
        written = torch.arange(self.length + 1)[None, :] >= self.pads[:, None]  # [rows, positions + 1]
        return {"attention_mask": written.long().to(device),
                "position_ids": (self.length - self.pads)[:, None].to(device)}

    def shifted(self, delta: list[KeyValue] | None = None) -> DynamicCache:
        """A cache object holding ``C + Δ`` (or ``C``), ready to be passed to the model."""
        if delta is None:
            data = self.layers
        else:
            data = [(k + dk, v + dv) for (k, v), (dk, dv) in zip(self.layers, delta)]
        return DynamicCache(ddp_cache_data=data, config=self.config)

    def zeros_like(self) -> list[KeyValue]:
        """A zero Δ on the cache's device, one tensor per layer for K and for V, requiring gradients."""
        return [
            (torch.zeros_like(k).requires_grad_(True), torch.zeros_like(v).requires_grad_(True))
            for k, v in self.layers
        ]

    def select_beams(self, source: torch.Tensor) -> "ContextCache":
        """Rows reordered after a beam update: row i becomes old row ``source[i]``."""
        layers = [(k.index_select(0, source), v.index_select(0, source)) for k, v in self.layers]
        return ContextCache(layers, self.config, self.pads.index_select(0, source.cpu())).trimmed()

    def padded(self, length: int) -> "ContextCache":
        """The same rows, padded on the left to ``length`` positions."""
        extra = length - self.length
        if extra <= 0:
            return self
        layers = [(F.pad(k, (0, 0, extra, 0)), F.pad(v, (0, 0, extra, 0))) for k, v in self.layers]
        return ContextCache(layers, self.config, self.pads + extra)

    def trimmed(self) -> "ContextCache":
        """Without the leading positions that every row pads (left behind when the longer rows leave)."""
        common = int(self.pads.min()) if self.rows else 0
        if common == 0:
            return self
        layers = [(k[:, :, common:], v[:, :, common:]) for k, v in self.layers]
        return ContextCache(layers, self.config, self.pads - common)

    @staticmethod
    def concat(caches: list["ContextCache"]) -> "ContextCache":
        """The rows of several caches in one, each padded on the left to the longest."""
        length = max(cache.length for cache in caches)
        caches = [cache.padded(length) for cache in caches]
        layers = [(torch.cat([c.layers[i][0] for c in caches]), torch.cat([c.layers[i][1] for c in caches]))
                  for i in range(len(caches[0].layers))]
        return ContextCache(layers, caches[0].config, torch.cat([c.pads for c in caches])).trimmed()
