"""Test metrics of the guidance classifier: accuracy, ROC-AUC and F1 (scikit-learn)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import BaseModel

from cgcap.classifier.data import Split


class ClassifierMetrics(BaseModel):
    accuracy: float
    roc_auc: float
    f1: float
    n: int


def classification_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> ClassifierMetrics:
    """``scores`` are P(label 1); a text counts as label 1 above ``threshold``."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    predicted = (scores > threshold).astype(int)
    # ROC-AUC is undefined with one class; NaN says so rather than a made-up number.
    roc_auc = float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")
    return ClassifierMetrics(
        accuracy=float(accuracy_score(labels, predicted)),
        roc_auc=roc_auc,
        f1=float(f1_score(labels, predicted, zero_division=0)),
        n=int(len(labels)),
    )


def evaluate(classifier, split: Split, prefix: str | None = None) -> ClassifierMetrics:
    """Score every sentence of ``split`` (with the classifier's training prefix unless given)."""
    prefix = classifier.prefix if prefix is None else prefix
    scores = classifier.score([prefix + text for text in split.texts])
    return classification_metrics(split.labels, scores.tolist())
