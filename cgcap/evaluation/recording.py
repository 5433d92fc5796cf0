"""One MLflow run per evaluation: every setting and model id as params, the metrics,
predictions and per-item scores as artifacts, plus a plot.

The run id is kept in the output folder, so rerunning a finished or interrupted
evaluation logs into the same run instead of adding a second one.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from cgcap.config import Settings
from cgcap.data.datasets import DatasetManifest
from cgcap.evaluation.predictions import Prediction
from cgcap.metrics.report import MetricReport

RUN_MARKER = "mlflow_run.json"
MAX_PARAM_CHARS = 6000  # MLflow's limit on one param value


def manifest_digest(manifest: DatasetManifest) -> str:
    """Identifies the data evaluated: ids and references, in order (lm-evaluation-harness style)."""
    text = json.dumps([[item.id, item.references] for item in manifest.items], ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()


def run_params(request, settings: Settings, manifest: DatasetManifest, predictions: dict[str, Prediction]) -> dict:
    params = {key: "null" if value is None else str(value) for key, value in settings.flat().items()}
    params.update({
        "data.dataset": manifest.dataset,
        "data.split": manifest.split,
        "data.root": manifest.root,
        "data.items": str(len(manifest.items)),
        "data.limit": str(request.limit),
        "data.ids": ",".join(request.ids) if request.ids else "all",
        "data.manifest_sha1": manifest_digest(manifest),
    })
    # The models each actor actually loaded (e.g. which registered version an alias pointed at).
    model_ids: dict = {}
    for row in predictions.values():  # union: an audio item names no image encoder, and so on
        if row.model_ids:
            model_ids.update({k: v for k, v in json.loads(row.model_ids).items() if v is not None or k not in model_ids})
    for role, model_id in sorted(model_ids.items()):
        params[f"model_id.{role}"] = "null" if model_id is None else str(model_id)
    params.update(guide_params(predictions.values()))
    return {key: value[:MAX_PARAM_CHARS] for key, value in params.items()}


def guide_params(predictions) -> dict[str, str]:
    """``guide.<modality>``: which classifier steered that modality's items, towards which label ("none" at λ1 = 0)."""
    seen: dict[str, set[str]] = {}
    for row in predictions:
        if row.caption is None or row.modality is None:
            continue
        guide = json.loads(row.guide) if row.guide else None
        text = "none" if guide is None else (f"{guide['classifier']} label {guide['wanted_label']} "
                                             f"weight {guide['weight']:g} ({guide['rule']} rule)")
        seen.setdefault(row.modality, set()).add(text)
    return {f"guide.{modality}": " | ".join(sorted(texts)) for modality, texts in sorted(seen.items())}


def write_reports(
    folder: Path, manifest: DatasetManifest, predictions: dict[str, Prediction], report: MetricReport, counts: dict
) -> list[Path]:
    """predictions.jsonl, per_item_scores.csv, metrics.json and the plot, in manifest order."""
    from cgcap.evaluation.plots import plot_per_item_scores

    folder.mkdir(parents=True, exist_ok=True)
    ordered = [predictions[item.id] for item in manifest.items if item.id in predictions]
    predictions_path = folder / "predictions.jsonl"
    predictions_path.write_text("".join(row.model_dump_json() + "\n" for row in ordered))

    metric_names = sorted({name for values in report.per_item.values() for name in values})
    scores_path = folder / "per_item_scores.csv"
    references = {item.id: item.references for item in manifest.items}
    with scores_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "caption", "error", "classifier_score", "references", *metric_names])
        for row in ordered:
            values = report.per_item.get(row.id, {})
            writer.writerow([row.id, row.caption or "", row.error or "", row.classifier_score,
                             " | ".join(references.get(row.id, [])), *[values.get(name, "") for name in metric_names]])

    metrics_path = folder / "metrics.json"
    metrics_path.write_text(json.dumps({"metrics": report.corpus, "unavailable": report.unavailable,
                                        "counts": counts}, indent=2))
    plot_path = plot_per_item_scores(report, predictions, folder / "per_item_scores.png")
    return [predictions_path, scores_path, metrics_path] + ([plot_path] if plot_path else [])


def resumable_run_id(marker: Path, experiment_id: str) -> str | None:
    """The run a marker file names, if it can be resumed: live and in this experiment; else start afresh."""
    import mlflow

    if not marker.is_file():
        return None
    run_id = json.loads(marker.read_text()).get("run_id")
    try:
        run = mlflow.get_run(run_id)
    except Exception:  # the marker points at another tracking store
        return None
    if run.info.lifecycle_stage != "active" or run.info.experiment_id != experiment_id:
        return None
    return run_id


def log_params_resumed(run, params: dict[str, str]) -> None:
    """Params of a resumed run: MLflow refuses to change a logged value, so changes become tags."""
    import mlflow

    logged = run.data.params
    mlflow.log_params({key: value for key, value in params.items() if key not in logged})
    changed = {key: value for key, value in params.items() if key in logged and logged[key] != value}
    if changed:
        mlflow.set_tags({f"resumed_with.{key}": value for key, value in changed.items()})


def record_run(request, settings: Settings, manifest, predictions, report: MetricReport, counts: dict,
               output: Path) -> str:
    import mlflow

    from cgcap import tracking

    experiment_id = tracking.configure(settings.tracking.tracking_uri, settings.tracking.experiment)
    files = write_reports(output / "report", manifest, predictions, report, counts)
    metrics = dict(report.corpus)
    metrics.update({key: float(value) for key, value in counts.items()})
    tags = {"cgcap.kind": "evaluation", "cgcap.dataset": manifest.dataset, "cgcap.output": str(output.resolve())}
    # Unavailable metrics are tagged with the reason rather than logged as 0.
    tags.update({f"unavailable.{name}": reason[:5000] for name, reason in report.unavailable.items()})
    run_name = request.run_name or f"{manifest.dataset}-{manifest.split}"
    with mlflow.start_run(run_id=resumable_run_id(output / RUN_MARKER, experiment_id), run_name=run_name, parent_run_id=request.parent_run_id,
                          nested=request.parent_run_id is not None, tags=tags) as run:
        log_params_resumed(run, run_params(request, settings, manifest, predictions))
        mlflow.log_metrics(metrics)
        for path in files:
            mlflow.log_artifact(str(path))
        run_id = run.info.run_id
    (output / RUN_MARKER).write_text(json.dumps({"run_id": run_id}))
    return run_id
