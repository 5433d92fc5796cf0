"""One evaluation: manifest -> Ray Data actor pool -> prediction parts -> metrics -> one MLflow run.

Architecture (docs/ARCHITECTURE.md, "The job path"): the manifest becomes a
``ray.data.Dataset``; ``map_batches`` runs ``CaptioningActor`` over an actor pool;
the driver writes each batch it receives as its own part file, so the output folder
needs no storage shared with the workers, and a rerun skips ids already written.
``--in-process`` runs the same actor class in the driver instead. ``score_dataset`` is the
same evaluation without its MLflow run, as the grounding benchmark uses it.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from cgcap.config import Settings, SettingsError
from cgcap.data.datasets import DatasetManifest, read_dataset
from cgcap.evaluation.lock import OutputFolderBusy, OutputFolderLock
from cgcap.evaluation.predictions import Prediction, PredictionStore
from cgcap.metrics.report import MetricReport

if TYPE_CHECKING:
    from cgcap.captioner import Captioner

log = logging.getLogger(__name__)


class EvaluationError(ValueError):
    """The evaluation cannot start as asked; the message says why."""


class EvaluationRequest(BaseModel):
    """The job's arguments (pydantic at the boundary), everything but the settings."""

    dataset: str
    data_root: str
    split: str | None = None
    output: str
    limit: int | None = Field(None, ge=1)
    ids: list[str] | None = None
    run_name: str | None = None
    parent_run_id: str | None = None  # set by sweeps: this run is a child
    in_process: bool = False  # caption in this process with the same actor class, no Ray (small runs)
    echo: bool = True  # print each caption as it lands
    ray_address: str | None = None  # a Ray cluster to join (else RAY_ADDRESS, else a local Ray)


class EvaluationOutcome(BaseModel):
    run_id: str
    output: str
    metrics: dict[str, float]
    unavailable: dict[str, str]
    counts: dict[str, int]
    seconds_per_caption: float | None = None  # median over the predictions (the first of a modality loads its encoder)
    seconds_per_item: float | None = None


def check_judge(settings: Settings) -> None:
    from cgcap.decoding.plan import classifiers_in_use

    judge = settings.models.judge_classifier
    guides = classifiers_in_use(settings.decoding, settings.models)
    for rule, spec in guides.items():
        if judge is not None and judge == spec:
            key = "models.classifier" if rule == "audio" else "models.image_classifier"
            raise SettingsError(
                f"models.judge_classifier must differ from the classifier that steers {rule} captions "
                f"({key} = {judge!r}): a guide judging its own captions measures nothing"
            )


# Settings that change no caption: the metrics' own models and options, the actor pool, tracking, serving.
METRIC_ONLY = ("evaluation.", "tracking.", "serve.", "models.judge_classifier")


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def captioning_identity(identity: dict) -> dict:
    """``identity`` flattened, without the metric-only settings: what must match for predictions to be reused."""
    return {key: value for key, value in _flatten(identity).items()
            if not key.removeprefix("settings.").startswith(METRIC_ONLY)}


def _check_output(output: Path, settings: Settings, manifest: DatasetManifest) -> None:
    """Refuse to resume into a folder whose predictions came from other settings or data."""
    identity = {"dataset": manifest.dataset, "split": manifest.split, "settings": settings.model_dump(mode="json")}
    path = output / "evaluation.json"
    if path.is_file():
        old, new = captioning_identity(json.loads(path.read_text())), captioning_identity(identity)
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            shown = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
            raise EvaluationError(
                f"output folder {output} holds predictions made with other settings or data ({shown}); "
                "use a new --output to evaluate these settings"
            )
        return
    output.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(identity, indent=2))


def prepare_before_local_ray(settings: Settings) -> list[str]:
    """Run the one-off steps of the models the actors will load (SmolLM2's conversion, the offline classifiers'
    training) here, before this run starts its own Ray; the specs that have one.

    The actors then read the cache. On two cores the fine-tune took 104 s inside an actor beside Ray's own
    processes and 92 s alone, and its lines print without an actor's prefix. On a cluster each node's
    actors prepare their own cache, so this runs only for a local Ray."""
    from cgcap.decoding.plan import classifiers_in_use
    from cgcap.models.store import prepare_model

    models = settings.models
    specs = [models.language_model, *classifiers_in_use(settings.decoding, models).values(), models.judge_classifier]
    return [spec for spec in dict.fromkeys(s for s in specs if s) if prepare_model(spec)]


def caption_with_ray(items: list[dict], settings: Settings, store: PredictionStore, echo: bool = True,
                     ray_address: str | None = None, meanwhile: Callable[[], None] | None = None) -> int:
    """Caption ``items`` (id, media_path) over an actor pool; write each batch as it arrives. ``meanwhile``
    is called once Ray is up and the pool is asked for: work this process can do while it waits."""
    import ray

    from cgcap.evaluation.actor import CaptioningActor
    from cgcap.evaluation.progress import BatchProgress, configure_ray_data_progress
    from cgcap.ray_connection import init_ray, named_cluster

    if named_cluster(ray_address) is None:
        prepare_before_local_ray(settings)
    # Inside `ray job submit` (RAY_ADDRESS set) or with --address this joins the cluster; alone it starts
    # its own local Ray, without the dashboard: progress is shown by Ray Data and by this loop.
    init_ray(ray_address, local={"include_dashboard": False})
    configure_ray_data_progress()
    progress = BatchProgress(len(items))
    pool = settings.evaluation
    dataset = ray.data.from_items(items)
    with warnings.catch_warnings():
        # Ray 2.60 (pinned) takes max_restarts only through its deprecated ray_remote_args.
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        captions = dataset.map_batches(
            CaptioningActor,
            fn_constructor_kwargs={"settings_data": settings.model_dump(mode="json")},
            batch_size=pool.batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=pool.actors),
            num_cpus=pool.cpus_per_actor,
            num_gpus=pool.gpus_per_actor or None,
            # No actor restarts. Ray Data's default (restart forever, retry forever) loops on an item
            # that kills its actor, and makes Ray log a scary "constructor arguments in the object store
            # and max_restarts > 0" error for every actor (ray-project/ray#57733). A failed job loses
            # nothing: finished batches are on disk and a rerun captions only the rest.
            max_restarts=0,
        )
    if meanwhile is not None:
        meanwhile()
    written = 0
    for batch in captions.iter_batches(batch_size=None, batch_format="pandas"):
        batch = batch.astype(object).where(batch.notna(), None)  # pandas NaN back to None
        rows = [Prediction.model_validate(record) for record in batch.to_dict("records")]
        store.write_batch(rows)
        written += len(rows)
        log.info(progress.line(written))
        if echo:
            print_captions(rows)
    return written


def caption_in_process(items: list[dict], settings: Settings, store: PredictionStore, echo: bool = True,
                       models_from: Captioner | None = None) -> int:
    """The same actor class called here, batch by batch: for runs so small that starting Ray dominates.
    ``models_from``: a captioner whose loaded models the actor shares (for these settings' decoding)."""
    from cgcap.evaluation.actor import CaptioningActor

    captioner = models_from.with_settings(settings) if models_from is not None else None
    actor = CaptioningActor(settings.model_dump(mode="json"), captioner=captioner)
    written, size = 0, settings.evaluation.batch_size
    for start in range(0, len(items), size):
        rows = actor.caption_items([(item["id"], item["media_path"]) for item in items[start:start + size]])
        store.write_batch(rows)
        written += len(rows)
        log.info("captioned %d/%d", written, len(items))
        if echo:
            print_captions(rows)
    return written


def print_captions(rows: list[Prediction]) -> None:
    """One line per item, ``id<TAB>caption`` (or the error), as the job's user reads them."""
    for row in rows:
        text = row.whole_caption
        took = f"\t({row.seconds:.1f} s)" if row.seconds is not None else ""
        print(f"{row.id}\t{text if text is not None else 'ERROR ' + str(row.error)}{took}", flush=True)


def run_evaluation(request: EvaluationRequest, settings: Settings) -> EvaluationOutcome:
    """Caption what the output folder lacks, score every prediction, and log one MLflow run."""
    from cgcap import tracking
    from cgcap.evaluation.recording import record_run

    with opened_output(request, settings) as (manifest, output):
        # The metrics' models load from the configured store: a missing judge fails in seconds, not after captioning.
        tracking.configure(settings.tracking.tracking_uri, settings.tracking.experiment)
        scored = caption_and_score(request, settings, manifest, output)
        run_id = record_run(request, settings, manifest, scored.predictions, scored.report, scored.counts, output)
    seconds = [row.seconds for row in scored.predictions.values() if row.seconds is not None]
    return EvaluationOutcome(run_id=run_id, output=str(output), metrics=scored.report.corpus,
                             unavailable=scored.report.unavailable, counts=scored.counts,
                             seconds_per_item=scored.report.corpus.get("seconds_per_item"),
                             seconds_per_caption=float(statistics.median(seconds)) if seconds else None)


def score_dataset(request: EvaluationRequest, settings: Settings,
                  models_from: Captioner | None = None) -> ScoredDataset:
    """An evaluation without its MLflow run: caption what the output folder lacks and score every prediction.
    Given ``models_from``, the captions are made in this process with that captioner's loaded models; the
    grounding benchmark evaluates each of its decoding variants so."""
    from cgcap import tracking

    with opened_output(request, settings) as (manifest, output):
        tracking.use_store_for(settings)  # a registered judge resolves against the settings' store
        return caption_and_score(request, settings, manifest, output, models_from)


@dataclass
class ScoredDataset:
    """A dataset's predictions under ``settings`` and their metrics."""

    manifest: DatasetManifest
    predictions: dict[str, Prediction]  # by item id, in manifest order
    report: MetricReport
    counts: dict[str, int]
    settings: Settings


@contextmanager
def opened_output(request: EvaluationRequest, settings: Settings) -> Iterator[tuple[DatasetManifest, Path]]:
    """The request's manifest and its output folder, locked for the block and checked to hold only predictions
    of these settings and data."""
    check_judge(settings)
    manifest = read_dataset(request.dataset, request.data_root, request.split).select(request.ids, request.limit)
    output = Path(request.output)
    with locked_output(output):
        _check_output(output, settings, manifest)
        yield manifest, output


@contextmanager
def locked_output(output: Path) -> Iterator[None]:
    """Hold the output folder's lock for the block; another live evaluation there is a clear refusal."""
    try:
        with OutputFolderLock(output):
            yield
    except OutputFolderBusy as busy:
        raise EvaluationError(str(busy)) from None


def caption_and_score(request: EvaluationRequest, settings: Settings, manifest: DatasetManifest, output: Path,
                      models_from: Captioner | None = None) -> ScoredDataset:
    from cgcap.evaluation.scoring import load_metric_models, score_predictions

    metric_models = load_metric_models(settings, needs_bertscore=manifest.has_references)
    store = PredictionStore(output)
    done = store.done_ids()
    if request.echo:
        _print_resumed(manifest, store, done, output)
    missing = [item for item in manifest.items if item.missing and item.id not in done]
    if missing:
        for item in missing:
            log.warning("missing media file for %s: %s", item.id, item.media_path)
        store.write_batch(Prediction(id=item.id, error=f"missing media file: {item.media_path}") for item in missing)
    pending = [{"id": item.id, "media_path": item.media_path}
               for item in manifest.items if not item.missing and item.id not in done]
    log.info("%s/%s: %d items, %d already done, %d missing, %d to caption", manifest.dataset, manifest.split,
             len(manifest.items), len(done & {i.id for i in manifest.items}), len(missing), len(pending))
    if pending and (request.in_process or models_from is not None):
        caption_in_process(pending, settings, store, echo=request.echo, models_from=models_from)
    elif pending:
        # The actors caption; this process only waits for their batches, so the reference metrics set up
        # meanwhile. A dataset without references has none to set up: no METEOR program to start.
        warm = (lambda: metric_models.start_warming(settings)) if manifest.has_references else None
        caption_with_ray(pending, settings, store, echo=request.echo, ray_address=request.ray_address, meanwhile=warm)

    rows = {row.id: row for row in store.read()}
    predictions = {item.id: rows[item.id] for item in manifest.items if item.id in rows}
    report, counts = score_predictions(manifest, predictions, settings, metric_models)
    return ScoredDataset(manifest, predictions, report, counts, settings)


def _print_resumed(manifest: DatasetManifest, store: PredictionStore, done: set[str], output: Path) -> None:
    """A resumed run shows the captions it already has, so its output is the whole dataset's."""
    order = {item.id: index for index, item in enumerate(manifest.items)}
    resumed = sorted((row for row in store.read() if row.id in done and row.id in order), key=lambda r: order[r.id])
    if resumed:
        print(f"resumed {len(resumed)} caption(s) already in {output}:", flush=True)
        print_captions(resumed)
