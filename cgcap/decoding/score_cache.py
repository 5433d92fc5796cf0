"""Score each distinct candidate text once per caption, and once per step for a batch of captions.

Across the iterations of one token most of the top-k texts repeat, and a scorer's
score for a text does not change, so a cache keyed by text gives identical results
(docs/ALGORITHM.md, an exact speed-up). In a batch of captions each input has its own
scorers, but they share the models behind them: ``score_together`` sends every input's
unseen texts to each shared model in one call (``shared_pass``), then lets each input
finish its own scores from the shared rows (``from_shared``: the input's own embedding).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

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

    def unseen(self, texts: Sequence[str]) -> list[str]:
        return [text for text in dict.fromkeys(texts) if text not in self.known]

    def score(self, texts: list[str]) -> torch.Tensor:
        """Scores for ``texts`` (duplicates allowed); one scorer call for all the unseen ones."""
        return score_together([(self, texts)])[0]

    def learn(self, texts: list[str], scores, seconds: float) -> None:
        """Remember a call's scores, after checking the scorer kept its contract."""
        scores = torch.as_tensor(scores, dtype=torch.float32).detach().cpu().flatten()
        if scores.shape[0] != len(texts):
            raise ScorerError(f"{self.name} scorer returned {scores.shape[0]} scores for {len(texts)} texts")
        if not torch.isfinite(scores).all():
            raise ScorerError(f"{self.name} scorer returned a non-finite score")
        self.seconds += seconds
        self.calls += 1
        self.texts_scored += len(texts)
        self.known.update(zip(texts, scores.tolist()))

    def lookup(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.tensor([self.known[text] for text in texts], dtype=torch.float32)


def shared_key(scorer) -> Hashable:
    """Scorers with the same key run their texts through one shared model call: by default only the same
    scorer object shares with itself."""
    key = getattr(scorer, "shared_key", None)
    return key() if callable(key) else ("scorer", id(scorer))


def begin_pass(scorer, texts: list[str]) -> Callable[[], Any]:
    """Start ``scorer``'s pass over ``texts`` (its shared pass if it has one); returns what waits for the result.
    A scorer in another process (a Serve handle) has ``begin_pass`` and returns at once, so every model's call
    of a step is in flight together; an in-process one runs now, one model after the other."""
    begin = getattr(scorer, "begin_pass", None)
    if begin is not None:
        return begin(texts)
    result = getattr(scorer, "shared_pass", scorer.score)(texts)
    return lambda: result


def score_together(requests: list[tuple[CachedScorer, Sequence[str]]]) -> list[torch.Tensor]:
    """Each request's scores; the unseen texts of scorers sharing a model go to it in one call, each
    distinct text once."""
    groups: dict[Hashable, list[tuple[CachedScorer, list[str]]]] = {}
    for cached, texts in requests:
        if unseen := cached.unseen(texts):
            groups.setdefault(shared_key(cached.scorer), []).append((cached, unseen))
    calls = []
    for members in groups.values():
        # Scorers sharing a key share the model: the first one's pass serves all (a plain scorer's pass
        # is its own score, and its rows are its scores).
        merged = list(dict.fromkeys(text for _, unseen in members for text in unseen))
        calls.append((members, merged, time.perf_counter(), begin_pass(members[0][0].scorer, merged)))
    for members, merged, started, result in calls:
        shared = torch.as_tensor(result())  # [texts, ...]: the texts' scores, or their embeddings
        seconds = time.perf_counter() - started
        row = {text: i for i, text in enumerate(merged)}
        for position, (cached, unseen) in enumerate(members):
            part = shared if len(members) == 1 else shared[torch.tensor([row[text] for text in unseen])]
            finish = getattr(cached.scorer, "from_shared", None)
            # The shared call's time, split by each input's share of its texts.
            cached.learn(unseen, finish(part) if finish else part, seconds * len(unseen) / len(merged))
            joined = getattr(cached.scorer, "joined_call", None)
            if position > 0 and joined is not None:  # the others took part in the first one's call
                joined(len(members))
    return [cached.lookup(texts) for cached, texts in requests]
