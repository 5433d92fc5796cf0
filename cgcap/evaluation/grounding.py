"""The grounding benchmark's core: caption labelled items under settings variants, then judge each caption.

``grounding_report(captioner, items, variants)`` captions every item once per variant
(e.g. ``{"lambda_mod=0": {"lambda_modality": 0.0}, "default": {}}``: the same settings, so
the difference is the modality term) and returns per-caption rows and per-modality
summaries: content named, BERTScore-F1 and CIDEr-D against the references, real-word
share, well-formed share (``cgcap.metrics.wellformed``), mean log-probability per token under
the unsteered LM (``cgcap.metrics.fluency``), ended on its own, the judge's P(wanted label)
and seconds per caption.
``benchmarks/grounding.py`` prints it; speed and sweep scripts import it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cgcap.config import Settings
from cgcap.data.datasets import read_dataset
from cgcap.data.devset import read_content_words
from cgcap.decoding.articles import without_prompt
from cgcap.decoding.scoring import CandidateScorer
from cgcap.metrics.grounding import count_real_words, ends_on_own, names_content
from cgcap.metrics.wellformed import judge as judge_form

log = logging.getLogger(__name__)

MODALITIES = ("audio", "image", "video")
# Default variants: the modality term off, then the settings as given (the profile's λ_mod).
LAMBDA_ZERO = "lambda_mod=0"
LAMBDA_ZERO_AND_DEFAULT: dict[str, dict[str, Any]] = {LAMBDA_ZERO: {"lambda_modality": 0.0}, "default": {}}


class GroundingItem(BaseModel):
    id: str
    media_path: str
    modality: str
    words: list[str]
    references: list[str]


class GroundingRow(BaseModel):
    """One caption of one item under one variant, with every per-caption figure."""

    id: str
    modality: str
    variant: str
    lambda_modality: float
    caption: str = ""  # with the prompt, as the decoder returns it
    prompt: str | None = None
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
    error: str | None = None

    @property
    def written(self) -> str:
        """The words the decoder wrote, as compared with the references."""
        return without_prompt(self.caption, self.prompt)

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


class GroundingReport(BaseModel):
    rows: list[GroundingRow]
    summary: list[GroundingSummary]
    settings: dict[str, Any]
    judge: str  # what gave classifier_score


def load_grounding_items(root: str | Path, modality: str | None = None, ids: list[str] | None = None,
                         limit: int | None = None) -> list[GroundingItem]:
    """A folder dataset with ``content_words.json`` (as ``scripts/make_devset.py`` writes) as benchmark items."""
    from cgcap.data.datasets import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, DatasetError

    manifest = read_dataset("folder", root).select(ids=ids)
    words = read_content_words(root)
    items = []
    for item in manifest.items:
        # A file named in captions.csv but gone stays in: its caption fails and is counted as failed.
        suffix = Path(item.id).suffix.lower()
        kind = "audio" if suffix in AUDIO_EXTENSIONS else "image" if suffix in IMAGE_EXTENSIONS else "video"
        if modality and kind != modality:
            continue
        if item.id not in words:
            raise DatasetError(f"{item.id} has no word list in {Path(root) / 'content_words.json'}")
        items.append(GroundingItem(id=item.id, media_path=item.media_path, modality=kind, words=words[item.id],
                                   references=item.references))
    return items[:limit] if limit is not None else items


def judge_for(settings: Settings, device: str = "cpu") -> tuple[CandidateScorer | None, str]:
    """The classifier that scores captions: ``models.judge_classifier`` if set, else none.

    With no judge, a caption's score is the one its guiding classifier gave it while
    decoding (the chosen beam's ``classifier_score``), so each modality is scored by the
    classifier that steered it; at λ1 = 0 no classifier ran and there is no score.
    """
    spec = settings.models.judge_classifier
    if spec:
        from cgcap.classifier import TextClassifier

        return TextClassifier.load(spec, device=device), spec
    return None, "the guiding classifier"


def code_version() -> str:
    """A digest of the cgcap package's code and profiles: a cached caption is reused only by the same code."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.glob("profiles/*.yaml")]):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class CaptionCache:
    """Rows already computed, one JSON line each, keyed by item content, settings, judge and code.

    A rerun with the same settings reads its captions back instead of decoding again; any
    change to a setting or to cgcap's code makes a new key.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: dict[str, GroundingRow] = {}
        self._code = code_version()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                self.rows[record["key"]] = GroundingRow.model_validate(record["row"])

    def key(self, item: GroundingItem, settings: Settings, variant: str, judge: str | None) -> str:
        media = hashlib.sha256(Path(item.media_path).read_bytes()).hexdigest()
        payload = json.dumps([item.id, media, item.words, variant, settings.model_dump(), judge, self._code],
                             sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def add(self, key: str, row: GroundingRow) -> None:
        self.rows[key] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "row": row.model_dump()}) + "\n")


def caption_item(captioner, item: GroundingItem, variant: str, options: dict[str, Any],
                 judge: CandidateScorer | None, tagger_hit: bool | None = None) -> GroundingRow:
    """Caption one item under one variant and judge the caption on its own (no corpus metrics)."""
    from cgcap.data.media import MediaError
    from cgcap.decoding.guidance import wanted_probability

    settings = captioner.settings_for(options)
    row = GroundingRow(id=item.id, modality=item.modality, variant=variant,
                       lambda_modality=settings.decoding.lambda_modality)
    try:
        result = captioner.caption(item.media_path, filename=Path(item.media_path).name, options=options)
    except (MediaError, OSError) as error:
        row.error = f"{type(error).__name__}: {error}"
        return row
    real, total = count_real_words(result.caption, result.prompt)
    row.caption, row.prompt = result.caption, result.prompt
    row.hit = names_content(result.caption, item.words, result.prompt)
    row.tagger_hit = tagger_hit
    row.real_words, row.words = real, total
    row.ends_on_own = ends_on_own(result)
    chosen = next((beam for beam in result.beams if beam.text == result.caption), None)
    row.seconds = result.timings.get("total", 0.0)
    row.tokens = int(result.timings.get("tokens", 0))
    if judge is not None:
        # The label this input's modality steers towards (images may want the other one).
        wanted = result.settings.get("decoding", {}).get("wanted_label", settings.decoding.wanted_label)
        row.classifier_score = float(wanted_probability(judge, [result.caption], wanted)[0])
    elif chosen is not None:
        row.classifier_score = chosen.classifier_score
    return row


def tagger_names_content(captioner, item: GroundingItem) -> bool | None:
    """Whether the words the item's encoder offers (``content_words``: its top classes' names) name the content."""
    from cgcap.data.media import MediaError, decode_media

    encoder = captioner.encoders[item.modality] if item.modality in ("audio", "image") else None
    if encoder is None or not hasattr(encoder, "content_words"):
        return None
    try:
        words = encoder.content_words(decode_media(item.media_path, filename=Path(item.media_path).name))
    except (MediaError, OSError):
        return None
    return names_content(" ".join(words), item.words) if words else None


def caption_rows(captioner, items: list[GroundingItem], variants: dict[str, dict[str, Any]],
                 judge: CandidateScorer | None = None, judge_spec: str | None = None,
                 cache: CaptionCache | None = None,
                 progress: Callable[[int, int, GroundingRow, bool], None] | None = None) -> list[GroundingRow]:
    """Every item under every variant, items outer so a partial run covers both variants; cached rows reused."""
    rows, total = [], len(items) * len(variants)
    for item in items:
        tagger_hit, known = None, False  # the tagger's verdict, found once per item and only if a row needs it
        for variant, options in variants.items():
            key = cache.key(item, captioner.settings_for(options), variant, judge_spec) if cache else None
            cached = cache is not None and key in cache.rows
            if not cached and not known:
                tagger_hit, known = tagger_names_content(captioner, item), True
            row = cache.rows[key] if cached else caption_item(captioner, item, variant, options, judge, tagger_hit)
            if cache is not None and not cached and row.error is None:
                cache.add(key, row)
            rows.append(row)
            if progress is not None:
                progress(len(rows), total, row, cached)
    return rows


def add_reference_scores(rows: list[GroundingRow], items: list[GroundingItem], settings: Settings) -> dict[str, str]:
    """BERTScore-F1 and CIDEr-D per row, against its item's references, computed per variant.

    CIDEr-D weighs n-grams by their rarity among the references scored together, so it
    is computed over one variant's captions of every modality at once. Returns metric ->
    why it is unavailable (e.g. no Java for CIDEr-D).
    """
    from cgcap.metrics.bertscore import bert_score
    from cgcap.metrics.coco import coco_caption_metrics

    references = {item.id: item.references for item in items if item.references}
    unavailable: dict[str, str] = {}
    for variant in dict.fromkeys(row.variant for row in rows):
        mine = {row.id: row for row in rows if row.variant == variant and row.error is None}
        captions = {key: row.written for key, row in mine.items()}
        report = coco_caption_metrics(captions, references, only=("CIDEr-D",))
        encoder = settings.evaluation.bertscore_encoder
        if encoder is not None:
            report = report.merge(bert_score(captions, references, encoder=encoder,
                                             layer=settings.evaluation.bertscore_layers))
        else:
            report.unavailable["BERTScore-F1"] = "evaluation.bertscore_encoder is null"
        unavailable.update(report.unavailable)
        for key, row in mine.items():
            figures = report.per_item.get(key, {})
            row.cider = figures.get("CIDEr-D")
            row.bertscore_f1 = figures.get("BERTScore-F1")
    return unavailable


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def add_form_scores(rows: list[GroundingRow], lm=None) -> None:
    """The well-formedness verdict for every caption and, given the captioner's LM, its mean log-probability
    per token with nothing steering. Done on the report's rows, so cached captions get them too."""
    done = [row for row in rows if row.error is None]
    for row in done:
        verdict = judge_form(row.caption, row.prompt)
        row.wellformed, row.wellformed_reasons = verdict.ok, verdict.reasons
    if lm is not None:
        from cgcap.metrics.fluency import mean_log_probabilities

        for row, value in zip(done, mean_log_probabilities(lm, [(row.caption, row.prompt) for row in done])):
            row.lm_logprob = value


def _versus_lambda_zero(rows: list[GroundingRow], chosen: list[GroundingRow]) -> float | None:
    zero = {r.id: r.lm_logprob for r in rows if r.variant == LAMBDA_ZERO and r.lm_logprob is not None}
    gaps = [r.lm_logprob - zero[r.id] for r in chosen if r.lm_logprob is not None and r.id in zero]
    return _mean(gaps) if gaps and any(r.variant != LAMBDA_ZERO for r in chosen) else None


def summarise(rows: list[GroundingRow]) -> list[GroundingSummary]:
    """One summary per variant and modality present, then per variant over all modalities."""
    out = []
    for variant in dict.fromkeys(row.variant for row in rows):
        present = [m for m in MODALITIES if any(r.modality == m and r.variant == variant for r in rows)]
        for modality in [*present, "all"]:
            chosen = [r for r in rows if r.variant == variant and modality in ("all", r.modality)]
            done = [r for r in chosen if r.error is None]
            words = sum(r.words for r in done)
            out.append(GroundingSummary(
                variant=variant, modality=modality, captions=len(done), failed=len(chosen) - len(done),
                hit_share=_mean([float(r.hit) for r in done]),
                tagger_hit_share=_mean([float(r.tagger_hit) for r in done if r.tagger_hit is not None]),
                hit_share_where_tagger_hits=_mean([float(r.hit) for r in done if r.tagger_hit]),
                bertscore_f1=_mean([r.bertscore_f1 for r in done if r.bertscore_f1 is not None]),
                cider=_mean([r.cider for r in done if r.cider is not None]),
                real_word_share=sum(r.real_words for r in done) / words if words else None,
                wellformed_share=_mean([float(r.wellformed) for r in done if r.wellformed is not None]),
                lm_logprob=_mean([r.lm_logprob for r in done if r.lm_logprob is not None]),
                lm_logprob_vs_lambda_zero=_versus_lambda_zero(rows, done),
                ends_on_own_share=_mean([float(r.ends_on_own) for r in done]),
                classifier_score=_mean([r.classifier_score for r in done if r.classifier_score is not None]),
                seconds_per_caption=_mean([r.seconds for r in done]),
            ))
    return out


def load_models(captioner, items: list[GroundingItem], variants: dict[str, dict[str, Any]]) -> None:
    """Loads the encoders and classifier these captions will use, so that no caption's seconds include loading."""
    present = {item.modality for item in items}
    needed = {"audio", "image"} if "video" in present else present
    loaded = [captioner.encoders[modality] for modality in sorted(needed)]  # lazy: loaded on first access
    if any(captioner.settings_for(options).decoding.classifier_weight > 0 for options in variants.values()):
        loaded.append(captioner.classifier)


def grounding_report(captioner, items: list[GroundingItem],
                     variants: dict[str, dict[str, Any]] | None = None, cache: CaptionCache | None = None,
                     progress: Callable[[int, int, GroundingRow, bool], None] | None = None,
                     reference_scores: bool = True, fluency: bool = True,
                     lambda_zero_rows: list[GroundingRow] | None = None) -> GroundingReport:
    """Caption, judge and summarise: the whole benchmark for one captioner.

    ``fluency``: score every caption under the captioner's unsteered LM. ``lambda_zero_rows``: λ_mod = 0
    captions of the same items from an earlier report (``rows_of_variant``), judged and scored again here so
    that a run of the default alone is compared with them; ignored when this run has its own."""
    settings = captioner.settings
    judge, judge_spec = judge_for(settings, captioner.device)
    variants = variants or LAMBDA_ZERO_AND_DEFAULT
    load_models(captioner, items, variants)
    rows = caption_rows(captioner, items, variants, judge, judge_spec, cache, progress)
    if lambda_zero_rows and LAMBDA_ZERO not in variants:
        wanted = {item.id for item in items}
        rows += [row.model_copy(deep=True) for row in lambda_zero_rows if row.id in wanted]
    add_form_scores(rows, captioner.lm if fluency else None)
    if reference_scores:
        for name, reason in add_reference_scores(rows, items, settings).items():
            log.warning("%s unavailable: %s", name, reason)
    return GroundingReport(rows=rows, summary=summarise(rows), settings=settings.model_dump(), judge=judge_spec)


def rows_of_variant(path: str | Path, variant: str = LAMBDA_ZERO) -> list[GroundingRow]:
    """The rows of one variant in an earlier ``report.json``."""
    report = GroundingReport.model_validate_json(Path(path).read_text(encoding="utf-8"))
    return [row for row in report.rows if row.variant == variant]
