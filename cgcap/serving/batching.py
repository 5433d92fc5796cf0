"""Many calls' texts in one forward pass: what ``@serve.batch`` methods do with a batch."""

from __future__ import annotations

from typing import Callable

import torch

from cgcap.serving.remote import Batched


def run_merged(text_lists: list[list[str]], run: Callable[[list[str]], torch.Tensor]) -> list[Batched]:
    """Concatenate the calls' texts, run once, split the rows back per call."""
    lengths = [len(texts) for texts in text_lists]
    merged = [text for texts in text_lists for text in texts]
    values = run(merged) if merged else torch.zeros(0)
    return [Batched(part, len(text_lists)) for part in torch.split(values, lengths, dim=0)]


def run_merged_by_key(keys: list[str], text_lists: list[list[str]],
                      run: Callable[[str, list[str]], torch.Tensor]) -> list[Batched]:
    """As ``run_merged``, one pass per key (e.g. per modality) when calls in a batch differ."""
    out: list[Batched | None] = [None] * len(keys)
    for key in dict.fromkeys(keys):
        positions = [i for i, k in enumerate(keys) if k == key]
        parts = run_merged([text_lists[i] for i in positions], lambda texts: run(key, texts))
        for i, part in zip(positions, parts):
            out[i] = Batched(part.value, len(keys))
    return out  # type: ignore[return-value]
