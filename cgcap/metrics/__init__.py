"""Caption metrics: pycocoevalcap's n-gram metrics, BERTScore, input-caption similarity
(CLAP-S / CLIP-S) and audibility accuracy with a judge classifier."""

from cgcap.metrics.report import MetricReport

__all__ = ["MetricReport"]
