"""The context cache C (attention keys and values of the text so far) and its shift Δ.

docs/ALGORITHM.md nudges C by Δ at every token. Here C is held as plain tensors, one
``(K, V)`` pair per layer, each ``[beams, kv_heads, positions, head_dim]`` (grouped-query
models simply have fewer kv_heads), and a fresh transformers ``DynamicCache`` is built
from ``C + Δ`` for each forward pass, because the model's forward appends to the cache
object it is given.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

KeyValue = tuple[torch.Tensor, torch.Tensor]


class ContextCache:
    """Keys and values of every layer for a batch of beams; immutable from outside."""

    def __init__(self, layers: list[KeyValue], config):
        self.layers = layers
        self.config = config

    @classmethod
    def from_past(cls, past, config) -> "ContextCache":
        """From a model output's ``cache`` (a transformers 5 cache object)."""
        layers = []
        for layer in past.layers:
            if layer.keys is None or layer.keys.numel() == 0:
                raise ValueError("the language model's cache has an empty layer; it is not a key/value cache")
            layers.append((layer.keys.detach(), layer.values.detach()))
        return cls(layers, config)

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
        return ContextCache([(k.index_select(0, source), v.index_select(0, source)) for k, v in self.layers], self.config)
