"""Every metric of one evaluation, from its manifest and predictions."""

from __future__ import annotations

import logging

from cgcap.config import Settings
from cgcap.data.datasets import DatasetManifest
from cgcap.evaluation.predictions import Prediction
from cgcap.metrics.report import MetricReport

log = logging.getLogger(__name__)


def count_items(manifest: DatasetManifest, predictions: dict[str, Prediction]) -> dict[str, int]:
    errors = [row.error or "" for row in predictions.values() if row.caption is None]
    return {
        "items_total": len(manifest.items),
        "items_captioned": sum(row.caption is not None for row in predictions.values()),
        "items_failed": len(errors),
        "items_missing": sum(e.startswith("missing media") for e in errors),
        "items_unreadable": sum(not e.startswith("missing media") for e in errors),
        "items_not_done": len(manifest.items) - len(predictions),
        "items_with_references": sum(bool(item.references) for item in manifest.items),
    }


def score_predictions(
    manifest: DatasetManifest, predictions: dict[str, Prediction], settings: Settings
) -> tuple[MetricReport, dict[str, int]]:
    from cgcap.metrics.coco import coco_caption_metrics
    from cgcap.metrics.similarity import similarity_names, similarity_report

    captions = {key: row.caption for key, row in predictions.items() if row.caption is not None}
    references = {item.id: item.references for item in manifest.items if item.references}
    report = MetricReport()
    if references:
        report = report.merge(coco_caption_metrics(captions, references))
        report = report.merge(_bert_score(captions, references, settings))
    else:
        no_refs = "the dataset has no reference captions"
        for name in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "SPICE", "SPIDEr",
                     "BERTScore-F1"]:
            report.unavailable[name] = no_refs
    similarities = {k: r.input_caption_similarity for k, r in predictions.items()
                    if r.input_caption_similarity is not None}
    names = similarity_names(settings.models.audio_encoder, settings.models.image_encoder)
    report = report.merge(similarity_report(similarities, {k: r.modality or "" for k, r in predictions.items()}, names))
    report = report.merge(_audibility(captions, settings))
    return report, count_items(manifest, predictions)


def _bert_score(captions, references, settings: Settings) -> MetricReport:
    from cgcap.metrics.bertscore import bert_score

    encoder = settings.evaluation.bertscore_encoder
    if encoder is None:
        return MetricReport(unavailable={"BERTScore-F1": "evaluation.bertscore_encoder is null"})
    return bert_score(captions, references, encoder=encoder, layer=settings.evaluation.bertscore_layers)


def _audibility(captions, settings: Settings) -> MetricReport:
    from cgcap.metrics.audibility import NAME, audibility_accuracy

    judge_spec = settings.models.judge_classifier
    if judge_spec is None:
        return MetricReport(unavailable={NAME: "models.judge_classifier is not set"})
    from cgcap.classifier import TextClassifier

    judge = TextClassifier.load(judge_spec)
    return audibility_accuracy(captions, judge, threshold=settings.evaluation.audibility_threshold)
