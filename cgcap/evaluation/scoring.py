"""Every metric of one evaluation, from its manifest and predictions."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


@dataclass
class MetricModels:
    """The metrics' own models, loaded and checked before any captioning starts."""

    judge: object | None = None  # a CandidateScorer giving P(audible | caption)
    bertscore_encoder: str | None = None  # the folder bert-score loads


def load_metric_models(settings: Settings, needs_bertscore: bool = True) -> MetricModels:
    """Load the judge and find the BERTScore encoder; a missing one raises ModelNotFoundError naming its setting."""
    from cgcap.models import ModelNotFoundError

    models = MetricModels()
    judge = settings.models.judge_classifier
    if judge is not None:
        from cgcap.classifier import TextClassifier

        try:
            models.judge = TextClassifier.load(judge)
        except ModelNotFoundError as error:
            raise ModelNotFoundError(f"models.judge_classifier {judge!r} cannot be loaded: {error}") from None
    encoder = settings.evaluation.bertscore_encoder
    if encoder is not None and needs_bertscore:
        from cgcap.metrics.bertscore import encoder_folder

        try:
            from transformers import AutoConfig

            models.bertscore_encoder = encoder_folder(encoder)
            AutoConfig.from_pretrained(models.bertscore_encoder)  # a folder bert-score could not read fails here
        except (ModelNotFoundError, OSError, ValueError) as error:
            raise ModelNotFoundError(
                f"evaluation.bertscore_encoder {encoder!r} cannot be loaded: {error}; "
                "set evaluation.bertscore_encoder=null to skip BERTScore") from None
    return models


def score_predictions(
    manifest: DatasetManifest, predictions: dict[str, Prediction], settings: Settings,
    models: MetricModels | None = None,
) -> tuple[MetricReport, dict[str, int]]:
    from cgcap.metrics.coco import coco_caption_metrics
    from cgcap.metrics.similarity import similarity_names, similarity_report

    models = models if models is not None else load_metric_models(settings)

    captions = {key: row.caption for key, row in predictions.items() if row.caption is not None}
    references = {item.id: item.references for item in manifest.items if item.references}
    report = MetricReport()
    if references:
        report = report.merge(coco_caption_metrics(captions, references))
        report = report.merge(_bert_score(captions, references, settings, models))
    else:
        no_refs = "the dataset has no reference captions"
        for name in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "SPICE", "SPIDEr",
                     "BERTScore-F1"]:
            report.unavailable[name] = no_refs
    similarities = {k: r.input_caption_similarity for k, r in predictions.items()
                    if r.input_caption_similarity is not None}
    names = similarity_names(settings.models.audio_encoder, settings.models.image_encoder)
    report = report.merge(similarity_report(similarities, {k: r.modality or "" for k, r in predictions.items()}, names))
    report = report.merge(_audibility(captions, settings, models))
    report = report.merge(grounding_metrics(manifest, predictions))
    return report, count_items(manifest, predictions)


def grounding_metrics(manifest: DatasetManifest, predictions: dict[str, Prediction]) -> MetricReport:
    """Whether captions name their content (``hit_rate``, for datasets with a word list per file, as the
    grounding dev set has), the share of real words and of captions that ended on their own."""
    from pathlib import Path

    from cgcap.data.devset import CONTENT_WORDS, read_content_words
    from cgcap.metrics.grounding import count_real_words, names_content

    done = {key: row for key, row in predictions.items() if row.caption is not None}
    report = MetricReport()
    if not done:
        return report
    has_words = manifest.dataset == "folder" and (Path(manifest.root) / CONTENT_WORDS).is_file()
    words = read_content_words(manifest.root) if has_words else {}
    real = total = 0
    for key, row in done.items():
        caption = " ".join(filter(None, (row.prompt, row.caption)))
        found, count = count_real_words(caption, row.prompt)
        real, total = real + found, total + count
        figures = {"real_word_share": found / count} if count else {}
        if key in words:
            figures["hit"] = float(names_content(caption, words[key], row.prompt))
        if row.ended_on_own is not None:
            figures["ended_on_own"] = float(row.ended_on_own)
        report.per_item[key] = figures
    if total:
        report.corpus["real_word_share"] = real / total  # pooled, as the grounding benchmark reports it
    for corpus_name, item_name in (("hit_rate", "hit"), ("ends_on_own_share", "ended_on_own")):
        values = [figures[item_name] for figures in report.per_item.values() if item_name in figures]
        if values:
            report.corpus[corpus_name] = sum(values) / len(values)
    if not words:
        report.unavailable["hit_rate"] = f"the dataset has no word list per file ({CONTENT_WORDS})"
    return report


def _bert_score(captions, references, settings: Settings, models: MetricModels) -> MetricReport:
    from cgcap.metrics.bertscore import bert_score

    if models.bertscore_encoder is None:
        return MetricReport(unavailable={"BERTScore-F1": "evaluation.bertscore_encoder is null"})
    return bert_score(captions, references, encoder=models.bertscore_encoder, layer=settings.evaluation.bertscore_layers)


def _audibility(captions, settings: Settings, models: MetricModels) -> MetricReport:
    from cgcap.metrics.audibility import NAME, audibility_accuracy

    if models.judge is None:
        return MetricReport(unavailable={NAME: "models.judge_classifier is not set"})
    return audibility_accuracy(captions, models.judge, threshold=settings.evaluation.audibility_threshold)
