"""The grounding benchmark as evaluations: one per decoding variant of a folder dataset with word lists,
made in this process over one set of loaded models, laid out side by side.

Each variant (e.g. ``{"lambda_mod=0": {"lambda_modality": 0.0}, "default": {}}``: the same
settings, so the difference is the modality term) is an evaluation run by the evaluation core
(``score_dataset``: the dataset reader, ``CaptioningActor`` and ``cgcap.evaluation.scoring``)
into a folder of its own, named by everything that changes its captions, so a rerun captions
only what changed. This module computes no figure: its report lists each caption's figures
and each variant's per modality, as the core aggregates them. ``benchmarks/grounding.py``
prints it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from cgcap.config import Settings
from cgcap.data.datasets import CaptionItem, DatasetError, read_dataset
from cgcap.data.devset import CONTENT_WORDS, read_content_words
from cgcap.evaluation.predictions import Prediction
from cgcap.evaluation.run import EvaluationRequest, ScoredDataset, captioning_identity, score_dataset
from cgcap.evaluation.scoring import aggregate, load_metric_models, mean_gap, score_predictions

if TYPE_CHECKING:
    from cgcap.captioner import Captioner

MODALITIES = ("audio", "image", "video")
# Default variants: the modality term off, then the settings as given (the profile's λ_mod).
LAMBDA_ZERO = "lambda_mod=0"
LAMBDA_ZERO_AND_DEFAULT: dict[str, dict[str, Any]] = {LAMBDA_ZERO: {"lambda_modality": 0.0}, "default": {}}


class GroundingRow(BaseModel):
    """One caption of one item under one variant, with every per-caption figure."""

    id: str
    modality: str
    variant: str
    lambda_modality: float
    caption: str = ""  # with the prompt, as the decoder returns it
    prompt: str | None = None  # as the caption writes it ("Audio of an")
    hit: bool = False  # names the content (a word of the item's list after the prompt)
    # Whether the encoder's own words for the input (a tagger's top class names) name the content: a caption
    # can hardly name what its tagger does not (ImageNet has no astronaut). None for encoders without words.
    tagger_hit: bool | None = None
    real_words: int = 0
    words: int = 0
    ends_on_own: bool = False
    classifier_score: float | None = None  # P(wanted label | caption): the judge's, else the guiding classifier's
    seconds: float = 0.0
    tokens: int = 0
    bertscore_f1: float | None = None
    cider: float | None = None
    wellformed: bool | None = None  # cgcap.metrics.wellformed's verdict; reasons below when it fails
    wellformed_reasons: list[str] = []
    lm_logprob: float | None = None  # mean log-probability per caption token under the unsteered LM
    # What a later run needs to score this caption again (--lambda-zero-from): the encoder's words for the
    # input and the label the item's modality wanted.
    input_words: str | None = None
    wanted_label: int | None = None
    error: str | None = None

    @property
    def real_word_share(self) -> float | None:
        return self.real_words / self.words if self.words else None


class GroundingSummary(BaseModel):
    """The rows of one variant and one modality ("all" for both) in one line."""

    variant: str
    modality: str
    captions: int
    failed: int
    hit_share: float | None
    tagger_hit_share: float | None = None  # the tagger's top classes name the content: the ceiling of hit_share
    hit_share_where_tagger_hits: float | None = None  # the decoder's part: hits among the items the tagger names
    bertscore_f1: float | None
    cider: float | None
    real_word_share: float | None  # pooled: real words over all words of these captions
    wellformed_share: float | None = None
    lm_logprob: float | None = None  # mean over captions of the mean log-probability per token
    # Mean over items of (this variant's log-prob - the lambda_mod=0 caption's), on items that have both.
    lm_logprob_vs_lambda_zero: float | None = None
    ends_on_own_share: float | None
    classifier_score: float | None
    seconds_per_caption: float | None


class ReferenceFluency(BaseModel):
    """The dataset's own reference captions under the same log-probability measure as the captions."""

    modality: str
    references: int  # those that begin with "A" or "An", written after the modality's prompt
    lm_logprob: float


class GroundingReport(BaseModel):
    rows: list[GroundingRow]
    summary: list[GroundingSummary]
    settings: dict[str, Any]
    judge: str  # what gave classifier_score
    references: list[ReferenceFluency] = []


def select_items(data_root: str | Path, modality: str | None = None, ids: list[str] | None = None,
                 limit: int | None = None) -> list[CaptionItem]:
    """The items of a folder dataset with ``content_words.json`` (as ``scripts/make_devset.py`` writes) to
    caption: ``ids`` (else all) of ``modality`` (else any), the first ``limit`` of them."""
    manifest = read_dataset("folder", data_root).select(ids=ids)
    words = read_content_words(data_root)
    # A file named in captions.csv but gone stays in: its caption fails and is counted as failed.
    chosen = [item for item in manifest.items if modality in (None, item.modality)][:limit]
    unlisted = [item.id for item in chosen if item.id not in words]
    if unlisted:
        raise DatasetError(f"{unlisted[0]} has no word list in {Path(data_root) / CONTENT_WORDS}")
    return chosen


def code_version() -> str:
    """A digest of the cgcap package's code and profiles: captions are reused only by the same code."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.glob("profiles/*.yaml")]):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def evaluation_folder(output: str | Path, variant: str, settings: Settings, data_root: str | Path) -> Path:
    """Where one variant's evaluation keeps its predictions: named by the variant and a digest of what makes
    its captions (the captioning settings, the data and cgcap's code), so that a rerun resumes exactly the
    captions it may reuse and a change of any of them starts a folder of its own."""
    identity = captioning_identity({"settings": settings.model_dump(mode="json")})
    payload = json.dumps([identity, str(Path(data_root).resolve()), code_version()], sort_keys=True, default=str)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
    name = re.sub(r"[^\w.=-]", "_", variant)  # a folder name whatever the variant is called
    return Path(output) / "evaluations" / f"{name}-{digest}"


def grounding_report(captioner: Captioner, data_root: str | Path, ids: list[str], output: str | Path,
                     variants: dict[str, dict[str, Any]] | None = None,
                     lambda_zero_rows: list[GroundingRow] | None = None, echo: bool = True) -> GroundingReport:
    """Evaluate the items ``ids`` under every variant (``captioner``'s settings with these ``decoding`` keys)
    and lay the evaluations out side by side, item by item.

    ``lambda_zero_rows``: λ_mod = 0 captions of the same items from an earlier report (``rows_of_variant``),
    scored again here, so that a run of the default alone is compared with them; ignored when this run has
    its own. ``echo``: print each variant's folder and captions as they land."""
    evaluated: dict[str, ScoredDataset] = {}
    for variant, options in (variants or LAMBDA_ZERO_AND_DEFAULT).items():
        settings = captioner.settings_for(options)
        folder = evaluation_folder(output, variant, settings, data_root)
        if echo:
            print(f"{variant}: {folder}", flush=True)
        request = EvaluationRequest(dataset="folder", data_root=str(data_root), output=str(folder), ids=ids,
                                    in_process=True, echo=echo)
        evaluated[variant] = score_dataset(request, settings, models_from=captioner)
    items = next(iter(evaluated.values())).manifest.items
    rows = [_row(item, variant, scored) for item in items for variant, scored in evaluated.items()]
    earlier = [row for row in lambda_zero_rows or [] if row.id in set(ids)]
    if earlier and LAMBDA_ZERO not in evaluated:
        rescored = evaluated[LAMBDA_ZERO] = score_rows(earlier, data_root, captioner.settings)
        lambdas = {row.id: row.lambda_modality for row in earlier}
        rows += [_row(item, LAMBDA_ZERO, rescored, lambdas[item.id]) for item in rescored.manifest.items]
    judge = captioner.settings.models.judge_classifier
    return GroundingReport(rows=rows, summary=summarise(evaluated), settings=captioner.settings.model_dump(),
                           judge=judge or "the guiding classifier", references=reference_fluency(captioner, items))


def reference_fluency(captioner: Captioner, items) -> list[ReferenceFluency]:
    """Per modality, the unsteered LM's mean log-probability per token of the items' reference captions
    written after the prompt: how far below the λ_mod = 0 captions what people write falls."""
    from cgcap.metrics.fluency import mean_log_probabilities, references_after_prompt

    from cgcap.decoding.plan import settings_for_modalities

    out = []
    for modality in MODALITIES:
        prompt = settings_for_modalities(captioner.settings.decoding, [modality]).prompt
        texts = references_after_prompt([text for item in items if item.modality == modality
                                         for text in item.references], prompt)
        scores = [score for score in mean_log_probabilities(captioner.lm, [(text, prompt) for text in texts])
                  if score is not None]
        if scores:
            out.append(ReferenceFluency(modality=modality, references=len(scores),
                                        lm_logprob=sum(scores) / len(scores)))
    return out


def score_rows(rows: list[GroundingRow], data_root: str | Path, settings: Settings) -> ScoredDataset:
    """An earlier report's captions (one variant's) scored by the evaluation's metrics as they are now."""
    mine = {row.id: row for row in rows}
    manifest = read_dataset("folder", data_root).select(ids=list(mine))
    predictions = {item.id: prediction_of(mine[item.id]) for item in manifest.items}
    models = load_metric_models(settings, needs_bertscore=manifest.has_references)
    report, counts = score_predictions(manifest, predictions, settings, models)
    return ScoredDataset(manifest, predictions, report, counts, settings)


def prediction_of(row: GroundingRow) -> Prediction:
    """A report's row as the prediction it was made from."""
    from cgcap.decoding.articles import split_prompt

    if row.error is not None:
        return Prediction(id=row.id, error=row.error)
    prompt, caption = split_prompt(row.caption, row.prompt)
    return Prediction(id=row.id, caption=caption, prompt=prompt or row.prompt, caption_with_prompt=row.caption,
                      modality=row.modality, classifier_score=row.classifier_score, wanted_label=row.wanted_label,
                      lm_logprob=row.lm_logprob, input_words=row.input_words, seconds=row.seconds, tokens=row.tokens,
                      ended_on_own=row.ends_on_own)


def _row(item: CaptionItem, variant: str, scored: ScoredDataset, lambda_modality: float | None = None) -> GroundingRow:
    """The item's row: its prediction under ``variant`` and the figures the evaluation gave it."""
    prediction = scored.predictions.get(item.id) or Prediction(id=item.id, error="not captioned")
    row = GroundingRow(id=item.id, modality=item.modality or "", variant=variant,
                       lambda_modality=scored.settings.decoding.lambda_modality if lambda_modality is None
                       else lambda_modality)
    if prediction.caption is None:
        return row.model_copy(update={"error": prediction.error})
    figures = scored.report.per_item.get(item.id, {})
    flags = {name: bool(figures[name]) if name in figures else None for name in ("hit", "tagger_hit", "wellformed")}
    return row.model_copy(update={
        "caption": prediction.whole_caption, "prompt": prediction.prompt, "hit": bool(flags["hit"]),
        "tagger_hit": flags["tagger_hit"], "real_words": int(figures.get("real_words", 0)),
        "words": int(figures.get("words", 0)), "ends_on_own": bool(prediction.ended_on_own),
        "classifier_score": figures.get("wanted_label_probability"), "seconds": prediction.seconds or 0.0,
        "tokens": prediction.tokens or 0, "bertscore_f1": figures.get("BERTScore-F1"),
        "cider": figures.get("CIDEr-D"), "wellformed": flags["wellformed"],
        "wellformed_reasons": scored.report.reasons.get(item.id, {}).get("wellformed", []),
        "lm_logprob": prediction.lm_logprob, "input_words": prediction.input_words,
        "wanted_label": prediction.wanted_label,
    })


def summarise(evaluated: dict[str, ScoredDataset]) -> list[GroundingSummary]:
    """Per variant, one summary per modality present, then one over all modalities: the figures the
    evaluation aggregates for those items."""
    zero = evaluated.get(LAMBDA_ZERO)
    out = []
    for variant, scored in evaluated.items():
        items = scored.manifest.items
        present = [m for m in MODALITIES if any(item.modality == m for item in items)]
        for modality in [*present, "all"]:
            ids = [item.id for item in items if modality in ("all", item.modality)]
            figures = aggregate(scored.report, ids)
            captions = sum(key in scored.predictions and scored.predictions[key].caption is not None for key in ids)
            compared = zero is not None and variant != LAMBDA_ZERO
            versus = mean_gap(scored.report, zero.report, ids, "lm_logprob") if compared else None
            out.append(GroundingSummary(
                variant=variant, modality=modality, captions=captions, failed=len(ids) - captions,
                hit_share=figures.get("hit_rate"), tagger_hit_share=figures.get("tagger_hit_rate"),
                hit_share_where_tagger_hits=figures.get("hit_rate_where_tagger_hits"),
                bertscore_f1=figures.get("BERTScore-F1"), cider=figures.get("CIDEr-D"),
                real_word_share=figures.get("real_word_share"), wellformed_share=figures.get("wellformed_share"),
                lm_logprob=figures.get("lm_logprob"), lm_logprob_vs_lambda_zero=versus,
                ends_on_own_share=figures.get("ends_on_own_share"),
                classifier_score=figures.get("wanted_label_probability"),
                seconds_per_caption=figures.get("seconds_per_item"),
            ))
    return out


def rows_of_variant(path: str | Path, variant: str = LAMBDA_ZERO) -> list[GroundingRow]:
    """The rows of one variant in an earlier ``report.json``."""
    report = GroundingReport.model_validate_json(Path(path).read_text(encoding="utf-8"))
    return [row for row in report.rows if row.variant == variant]
