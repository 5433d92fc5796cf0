"""Score each distinct candidate text once per caption (docs/ALGORITHM.md, an exact speed-up).

Across the iterations of one token most of the top-k texts repeat, and a scorer's
score for a text does not change, so a cache keyed by text gives identical results.
"""

from __future__ import annotations

import time

import torch

from cgcap.decoding.scoring import CandidateScorer


class ScorerError(RuntimeError):
    """A scorer broke its contract (one finite score per text)."""


class CachedScorer:
    def __init__(self, scorer: CandidateScorer, name: str):
        self.scorer = scorer
        self.name = name
        self.known: dict[str, float] = {}
        self.calls = 0
        self.texts_scored = 0
        self.seconds = 0.0

    def score(self, texts: list[str]) -> torch.Tensor:
        """Scores for ``texts`` (duplicates allowed); one scorer call for all the unseen ones."""
        unseen = [text for text in dict.fromkeys(texts) if text not in self.known]
        if unseen:
            started = time.perf_counter()
            scores = self.scorer.score(unseen)
            self.seconds += time.perf_counter() - started
            scores = torch.as_tensor(scores, dtype=torch.float32).detach().cpu().flatten()
            if scores.shape[0] != len(unseen):
                raise ScorerError(f"{self.name} scorer returned {scores.shape[0]} scores for {len(unseen)} texts")
            if not torch.isfinite(scores).all():
                raise ScorerError(f"{self.name} scorer returned a non-finite score")
            self.calls += 1
            self.texts_scored += len(unseen)
            self.known.update(zip(unseen, scores.tolist()))
        return torch.tensor([self.known[text] for text in texts], dtype=torch.float32)
