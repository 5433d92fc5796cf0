"""Caption metrics: pycocoevalcap's n-gram metrics, BERTScore, input-caption similarity
(CLAP-S / CLIP-S, or SPEC-S for a tagger encoder) and audibility accuracy with a judge classifier."""

from cgcap.metrics.report import MetricReport

__all__ = ["MetricReport"]
