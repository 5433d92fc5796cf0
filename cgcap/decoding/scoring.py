"""The seam between the decoder and its scorers (docs/ARCHITECTURE.md).

The decoder needs scores, never gradients, from the modality model and the
classifier, so it sees them only through ``CandidateScorer``: texts in, one number
per text out. In-process models and Ray Serve handles both implement it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class CandidateScorer(Protocol):
    def score(self, texts: list[str]) -> torch.Tensor:
        """One float per text, shape ``[len(texts)]``, on the CPU."""
        ...


@runtime_checkable
class TextEmbedder(Protocol):
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised embeddings, shape ``[len(texts), dim]``."""
        ...


class ModalityScorer:
    """``a_j = cos(E_x(x), E_t(s_j))``: the input's embedding against each candidate text's."""

    def __init__(self, input_embedding: torch.Tensor, embedder: TextEmbedder, content_words: list[str] | None = None):
        self.input_embedding = torch.nn.functional.normalize(input_embedding.float().flatten(), dim=0).cpu()
        self.embedder = embedder
        self.content_words = list(content_words or [])  # words naming the input, if the encoder knows them

    def score(self, texts: list[str]) -> torch.Tensor:
        return self.from_shared(self.shared_pass(texts))

    # In a batch of captions, inputs whose scorers share a text tower embed their candidates in one call
    # (cgcap.decoding.score_cache.score_together); each input then takes the cosine with its own embedding.
    def shared_key(self):
        key = getattr(self.embedder, "shared_key", None)
        return ("text-tower", key() if callable(key) else id(self.embedder))

    def shared_pass(self, texts: list[str]) -> torch.Tensor:
        """The texts' unit embeddings, ``[texts, dim]``."""
        return torch.nn.functional.normalize(self.embedder.embed_texts(texts).float().cpu(), dim=-1)

    def begin_pass(self, texts: list[str]):
        """``shared_pass`` begun: an embedder in another process embeds while the caller starts other calls."""
        begin = getattr(self.embedder, "begin_embed_texts", None)
        if begin is None:
            embedded = self.shared_pass(texts)
            return lambda: embedded
        result = begin(texts)
        return lambda: torch.nn.functional.normalize(result().float().cpu(), dim=-1)

    def from_shared(self, embedded: torch.Tensor) -> torch.Tensor:
        return embedded @ self.input_embedding

    def joined_call(self, inputs: int) -> None:
        """This input's candidates went in another input's call, shared by ``inputs`` inputs."""
        joined = getattr(self.embedder, "joined_call", None)
        if joined is not None:
            joined(inputs)
