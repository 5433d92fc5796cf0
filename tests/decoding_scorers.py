"""Scorers with known preferences for the decoder tests, and a helper to run the oracle.

They implement the decoder's ``CandidateScorer`` seam (texts in, one score per text out)
exactly as the in-process and remote scorers do.
"""

from __future__ import annotations

import torch

from cgcap.decoding import GuidedDecoder
from reference_decoder import ReferenceDecoder


class WordScorer:
    """1 for texts containing ``word`` (as a whole word, any case), 0 otherwise."""

    def __init__(self, word: str):
        self.word = word.lower()

    def score(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([float(self.word in text.lower().replace(",", " ").replace(".", " ").split())
                             for text in texts])


class LetterShareScorer:
    """The share of a text's characters that are among ``letters``: a smooth preference
    that ranks nearly every candidate differently, so the top-k targets are informative."""

    def __init__(self, letters: str = "aeiou"):
        self.letters = set(letters)

    def score(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([sum(c in self.letters for c in text) / max(len(text), 1) for text in texts])


class RecordingScorer:
    """Wraps a scorer and records every call's texts."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.calls: list[list[str]] = []

    def score(self, texts: list[str]) -> torch.Tensor:
        self.calls.append(list(texts))
        return self.scorer.score(texts)


def oracle_for(decoder: GuidedDecoder, settings=None) -> ReferenceDecoder:
    """The reference loop for the same LM and settings, given the same token lists."""
    return ReferenceDecoder(
        decoder.model, decoder.lm.tokenizer, settings or decoder.settings, decoder.forbidden_ids.tolist(),
        decoder.end_token_id, decoder.vocabulary.start_token_id(),
    )
