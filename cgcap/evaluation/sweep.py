"""Sweeps: one child evaluation per value of one setting, under a parent MLflow run
that holds a plot of every metric against the swept value.

Each child has its own output folder (``OUTPUT/KEY=VALUE``), so a killed sweep
resumes child by child, batch by batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cgcap.config import Settings, SettingsError, _merge, build_settings, parse_override
from cgcap.evaluation.run import EvaluationOutcome, EvaluationRequest, locked_output, run_evaluation

PARENT_MARKER = "mlflow_parent_run.json"


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """``decoding.lambda_cls=0,0.3,0.6`` -> ``("decoding.lambda_cls", ["0", "0.3", "0.6"])``."""
    key, sep, raw = text.partition("=")
    values = [value.strip() for value in raw.split(",") if value.strip()]
    if not sep or not key.strip() or "." not in key:
        raise SettingsError(f"sweep {text!r} must look like section.key=value1,value2,...")
    if len(values) < 2:
        raise SettingsError(f"sweep {text!r} needs at least two values")
    return key.strip(), values


def settings_with(settings: Settings, key: str, value: str) -> Settings:
    """``settings`` with one override applied and validated, as ``--set`` would."""
    return build_settings(_merge(settings.model_dump(), parse_override(f"{key}={value}")))


def _plot_value(value: str) -> float | str:
    parsed = yaml.safe_load(value)
    return float(parsed) if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) else value


def open_parent_run(output: Path, settings: Settings, run_name: str, tags: dict[str, str],
                    params: dict[str, str], resume: bool = True) -> str:
    """Start (or, with a live marker in ``output``, resume) a parent run; its id is kept in ``output``."""
    import mlflow

    from cgcap import tracking
    from cgcap.evaluation.recording import log_params_resumed, resumable_run_id

    output.mkdir(parents=True, exist_ok=True)
    experiment_id = tracking.configure(settings.tracking.tracking_uri, settings.tracking.experiment)
    marker = output / PARENT_MARKER
    run_id = resumable_run_id(marker, experiment_id) if resume else None
    with mlflow.start_run(run_id=run_id, run_name=run_name, tags=tags) as parent:
        marker.write_text(json.dumps({"run_id": parent.info.run_id}))
        log_params_resumed(parent, params)
        return parent.info.run_id


def run_sweep(request: EvaluationRequest, settings: Settings, sweep: str) -> tuple[str, list[EvaluationOutcome]]:
    # The parent folder is locked too: two sweeps into it would share its run marker.
    with locked_output(Path(request.output)):
        return _run_sweep(request, settings, sweep)


def _run_sweep(request: EvaluationRequest, settings: Settings, sweep: str) -> tuple[str, list[EvaluationOutcome]]:
    import mlflow

    from cgcap.evaluation.plots import plot_sweep

    key, values = parse_sweep(sweep)
    variants = [settings_with(settings, key, value) for value in values]  # refuse bad values before any work
    output = Path(request.output)
    params = {k: "null" if v is None else str(v)[:6000] for k, v in settings.flat().items() if k != key}
    params.update({"sweep.key": key, "sweep.values": ",".join(values)})
    parent_id = open_parent_run(output, settings, request.run_name or f"sweep {key}",
                                {"cgcap.kind": "sweep", "cgcap.sweep.key": key}, params)
    outcomes = []
    for value, variant in zip(values, variants):
        child = request.model_copy(update={
            "output": str(output / f"{key}={value}"),
            "parent_run_id": parent_id,
            "run_name": f"{key}={value}",
        })
        outcomes.append(run_evaluation(child, variant))
    metrics = [dict(outcome.metrics) for outcome in outcomes]
    with mlflow.start_run(run_id=parent_id):
        plot = plot_sweep(key, [_plot_value(v) for v in values], metrics, output / "sweep.png")
        if plot is not None:
            mlflow.log_artifact(str(plot))
        table = output / "sweep.json"
        table.write_text(json.dumps([{"value": v, "run_id": o.run_id, "metrics": o.metrics}
                                     for v, o in zip(values, outcomes)], indent=2))
        mlflow.log_artifact(str(table))
    return parent_id, outcomes
