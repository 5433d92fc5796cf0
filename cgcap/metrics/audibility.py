"""Audibility accuracy: the share of captions a judge classifier labels audible.

The judge must be a different classifier from the one that guided decoding; a
guide scoring its own output would measure nothing.
"""

from __future__ import annotations

from cgcap.decoding.scoring import CandidateScorer
from cgcap.metrics.report import MetricReport

NAME = "audibility_accuracy"


def audibility_accuracy(captions: dict[str, str], judge: CandidateScorer, threshold: float = 0.5) -> MetricReport:
    """``judge.score`` gives P(audible | caption); a caption counts as audible at or above ``threshold``."""
    ids = list(captions)
    if not ids:
        return MetricReport(unavailable={NAME: "no captions to judge"})
    probabilities = judge.score([captions[key] for key in ids]).float().tolist()
    per_item = {key: {"judge_audible_probability": p, "judged_audible": float(p >= threshold)}
                for key, p in zip(ids, probabilities)}
    accuracy = sum(item["judged_audible"] for item in per_item.values()) / len(ids)
    return MetricReport(corpus={NAME: accuracy}, per_item=per_item)
