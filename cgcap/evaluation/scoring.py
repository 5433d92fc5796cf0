"""Every metric of one evaluation, from its manifest and predictions: each item's figures, and the figures
of the whole run or of any part of it (one modality, in the grounding benchmark's tables).

The actor records what needs an item's input or the captioning models (``Prediction``: the
input-caption cosine, the encoder's words for the input, the log-probability under the
unsteered language model, the guide's score); the rest is computed here. A figure of many
items that is the mean (or the pooled share) of the items' own figures is aggregated by
``aggregate`` alone, for the MLflow run and for the benchmark alike.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cgcap.config import Settings
from cgcap.data.datasets import DatasetManifest
from cgcap.evaluation.predictions import Prediction
from cgcap.metrics.report import MetricReport

log = logging.getLogger(__name__)

# A per-item figure, and the name of its mean over a set of items (over the items that have one).
ITEM_MEANS = {
    "hit": "hit_rate",  # a word of the item's list (content_words.json) after the prompt
    "tagger_hit": "tagger_hit_rate",  # the encoder's own words for the input name the content: the ceiling of hit
    "ended_on_own": "ends_on_own_share",
    "wellformed": "wellformed_share",  # cgcap.metrics.wellformed; the reasons of a failure in MetricReport.reasons
    "lm_logprob": "lm_logprob",  # mean log-probability per caption token under the unsteered LM
    "wanted_label_probability": "wanted_label_probability",
    "BERTScore-P": "BERTScore-P",
    "BERTScore-R": "BERTScore-R",
    "BERTScore-F1": "BERTScore-F1",
    "CIDEr-D": "CIDEr-D",  # pycocoevalcap's corpus CIDEr-D is this mean too
    "seconds": "seconds_per_item",
}


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
    bertscorer: Future | None = None  # its BERTScorer, being built (start_warming)
    meteor: object | None = None  # METEOR's Java program, loading its tables (start_warming)

    def start_warming(self, settings: Settings) -> None:
        """Start the reference metrics' slow set-up while the captions are written, on time the caller only
        waits (a job's driver waits on its actors): METEOR's Java program loads its tables (about 5 s) and
        BERTScore's encoder is built in a thread (about 3 s, most of it importing the BERT code)."""
        from cgcap.metrics.bertscore import build_scorer
        from cgcap.metrics.coco import start_meteor

        self.meteor = start_meteor()
        if self.bertscore_encoder is not None:
            pool = ThreadPoolExecutor(1, thread_name_prefix="cgcap-bertscore")
            self.bertscorer = pool.submit(build_scorer, self.bertscore_encoder, settings.evaluation.bertscore_layers)
            pool.shutdown(wait=False)

    def take_meteor(self):
        """The started METEOR program, for one use (scoring stops it), or None."""
        meteor, self.meteor = self.meteor, None
        return meteor


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
    """Every item's figures and the run's; the run's means are ``aggregate`` over the manifest's items."""
    from cgcap.metrics.coco import coco_caption_metrics
    from cgcap.metrics.similarity import similarity_names, similarity_report

    models = models if models is not None else load_metric_models(settings)

    captions = {key: row.caption for key, row in predictions.items() if row.caption is not None}
    references = {item.id: item.references for item in manifest.items if item.references}
    report = MetricReport()
    if references:
        report = report.merge(coco_caption_metrics(captions, references, meteor=models.take_meteor()))
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
    report = report.merge(caption_figures(manifest, predictions, models.judge))
    report.corpus.update(aggregate(report, [item.id for item in manifest.items]))
    return report, count_items(manifest, predictions)


def caption_figures(manifest: DatasetManifest, predictions: dict[str, Prediction],
                    judge=None) -> MetricReport:
    """Each caption's own figures: whether it names its content (for datasets with a word list per file, as
    the grounding dev set has) and whether the encoder's words for its input did, its real words, whether it
    ended on its own and reads as well-formed English, its unsteered log-probability, P(wanted label | caption)
    (``judge``'s, else the guide's own) and its seconds."""
    from cgcap.data.devset import CONTENT_WORDS, read_content_words

    done = {key: row for key, row in predictions.items() if row.caption is not None}
    report = MetricReport()
    if not done:
        return report
    has_words = manifest.dataset == "folder" and (Path(manifest.root) / CONTENT_WORDS).is_file()
    words = read_content_words(manifest.root) if has_words else {}
    wanted = _wanted_label_probabilities(done, judge)
    for key, row in done.items():
        figures, reasons = _caption_figures(row, words.get(key))
        if key in wanted:
            figures["wanted_label_probability"] = wanted[key]
        report.per_item[key] = figures
        if reasons:
            report.reasons[key] = {"wellformed": reasons}
    if not words:
        report.unavailable["hit_rate"] = f"the dataset has no word list per file ({CONTENT_WORDS})"
    return report


def _caption_figures(row: Prediction, content_words: list[str] | None) -> tuple[dict[str, float], list[str]]:
    """One caption's figures (named as in ``ITEM_MEANS``, plus its real words and words) and why it is not
    well formed, if it is not."""
    from cgcap.metrics.grounding import count_real_words, names_content
    from cgcap.metrics.wellformed import judge as judge_form

    caption = row.whole_caption
    real, total = count_real_words(caption, row.prompt)
    verdict = judge_form(caption, row.prompt)
    figures = {"real_words": float(real), "words": float(total), "wellformed": float(verdict.ok)}
    if total:
        figures["real_word_share"] = real / total
    if content_words is not None:
        figures["hit"] = float(names_content(caption, content_words, row.prompt))
        if row.input_words:
            figures["tagger_hit"] = float(names_content(row.input_words, content_words))
    optional = {"ended_on_own": row.ended_on_own, "lm_logprob": row.lm_logprob, "seconds": row.seconds}
    figures.update({name: float(value) for name, value in optional.items() if value is not None})
    return figures, verdict.reasons


def _wanted_label_probabilities(done: dict[str, Prediction], judge) -> dict[str, float]:
    """P(wanted label | caption) per caption: the judge's (``models.judge_classifier``), each towards the label
    its modality wanted; without a judge, the score the guiding classifier gave the caption while decoding
    (none at λ1 = 0, when no classifier ran)."""
    if judge is None:
        return {key: row.classifier_score for key, row in done.items() if row.classifier_score is not None}
    from cgcap.decoding.guidance import wanted_probability

    out: dict[str, float] = {}
    for label in sorted({row.wanted_label for row in done.values() if row.wanted_label is not None}):
        keys = [key for key, row in done.items() if row.wanted_label == label]
        probabilities = wanted_probability(judge, [done[key].whole_caption for key in keys], label)
        out.update(zip(keys, probabilities.float().tolist()))
    return out


def aggregate(report: MetricReport, ids: list[str]) -> dict[str, float]:
    """The figures of the items ``ids`` from their own: the ``ITEM_MEANS``, the pooled share of real words,
    and the hit rate among the items whose encoder's words name the content (the decoder's part of hit)."""
    items = [report.per_item[key] for key in ids if key in report.per_item]
    out = {}
    for item_name, name in ITEM_MEANS.items():
        values = [figures[item_name] for figures in items if item_name in figures]
        if values:
            out[name] = _mean(values)
    words = sum(figures.get("words", 0.0) for figures in items)
    if words:
        out["real_word_share"] = sum(figures.get("real_words", 0.0) for figures in items) / words
    hits = [figures["hit"] for figures in items if figures.get("tagger_hit") and "hit" in figures]
    if hits:
        out["hit_rate_where_tagger_hits"] = _mean(hits)
    return out


def mean_gap(report: MetricReport, baseline: MetricReport, ids: list[str], name: str) -> float | None:
    """The mean over ``ids`` of (an item's figure ``name`` - the same item's in ``baseline``), on the items that
    have both (e.g. each caption's log-probability against the λ_mod = 0 caption of the same input)."""
    gaps = [report.per_item[key][name] - baseline.per_item[key][name] for key in ids
            if name in report.per_item.get(key, {}) and name in baseline.per_item.get(key, {})]
    return _mean(gaps) if gaps else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _bert_score(captions, references, settings: Settings, models: MetricModels) -> MetricReport:
    from cgcap.metrics.bertscore import bert_score

    if models.bertscore_encoder is None:
        return MetricReport(unavailable={"BERTScore-F1": "evaluation.bertscore_encoder is null"})
    return bert_score(captions, references, encoder=models.bertscore_encoder, layer=settings.evaluation.bertscore_layers,
                      scorer=models.bertscorer.result() if models.bertscorer is not None else None)


def _audibility(captions, settings: Settings, models: MetricModels) -> MetricReport:
    from cgcap.metrics.audibility import NAME, audibility_accuracy

    if models.judge is None:
        return MetricReport(unavailable={NAME: "models.judge_classifier is not set"})
    return audibility_accuracy(captions, models.judge, threshold=settings.evaluation.audibility_threshold)
