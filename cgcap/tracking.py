"""MLflow: where runs and registered models live.

Embedded default: ``sqlite:///mlflow.db`` in the working folder, artifacts beside it
in ``mlartifacts/``. ``MLFLOW_TRACKING_URI`` (or ``tracking.tracking_uri``) points
at any tracking server instead.

A job submitted with ``--working-dir`` runs inside a copy of that folder that Ray
deletes with the session, so a relative store there would vanish with the job's
record: such a job is refused before it starts (``check_store_outlives_job``).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

# Set by Ray's job supervisor for a submitted job's driver: the job's runtime environment.
_RAY_JOB_CONFIG = "RAY_JOB_CONFIG_JSON_ENV_VAR"


class TrackingStoreError(ValueError):
    """The MLflow store would not outlive the process that writes it; the message names the fix."""


def tracking_uri(configured: str | None = None) -> str:
    """The environment wins over settings, so a cluster can redirect every job at once."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured or DEFAULT_TRACKING_URI
    check_store_outlives_job(uri)
    return uri


def submitted_working_dir() -> str | None:
    """The ``working_dir`` of the submitted Ray job this process drives, if it is one."""
    raw = os.environ.get(_RAY_JOB_CONFIG)
    if not raw:
        return None
    try:
        runtime_env = json.loads(raw).get("runtime_env") or {}
    except (ValueError, AttributeError):
        return None
    return runtime_env.get("working_dir") or None


def is_relative_local_store(uri: str) -> bool:
    """``sqlite:///mlflow.db`` or a bare relative folder; ``sqlite:////abs`` and servers are not."""
    if uri.startswith("sqlite:///"):
        return not uri.removeprefix("sqlite:///").startswith("/")
    if "://" in uri:
        return False
    return not Path(uri).expanduser().is_absolute()


def check_store_outlives_job(uri: str) -> None:
    """Refuse a relative store inside a submitted job: Ray deletes its working-dir copy with the session."""
    if submitted_working_dir() is None or not is_relative_local_store(uri):
        return
    raise TrackingStoreError(
        f"MLflow tracking URI {uri!r} is relative, and this Ray job runs in a temporary copy of its "
        "--working-dir that Ray deletes with the session, so the run would be lost. Pass a tracking server "
        "in the runtime environment: ray job submit --runtime-env-json "
        "'{\"env_vars\": {\"MLFLOW_TRACKING_URI\": \"http://MLFLOW_HOST:5000\"}}' ... "
        "(or an absolute sqlite:////shared/path/mlflow.db that every run can reach)"
    )


def configure(configured_uri: str | None = None, experiment: str = "cgcap") -> str:
    """Point MLflow at the tracking store and make sure ``experiment`` exists; returns its id."""
    import mlflow

    uri = tracking_uri(configured_uri)
    mlflow.set_tracking_uri(uri)
    with _store_setup_lock(uri):
        return _ensure_experiment(uri, experiment)


@contextmanager
def _store_setup_lock(uri: str) -> Iterator[None]:
    """Serialise the first contact with a sqlite store across processes.

    MLflow creates and migrates a new sqlite store on first contact; two processes doing
    that at once (a training run and an evaluation started together) race, and one fails
    with "duplicate column name". Once set up, sqlite's own locking serialises their writes.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri.removeprefix("sqlite:///")).expanduser()
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".setup-lock"), "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes, or the process dies
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _ensure_experiment(uri: str, experiment: str) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment)
        return found.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:///"):
        # Keep artifacts next to the database rather than in the current folder of whoever runs first.
        database = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
        artifact_location = (database.parent / "mlartifacts").as_uri()
    try:
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_location)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        # Another client (of a tracking server) created it between the lookup and here.
        experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    mlflow.set_experiment(experiment)
    return experiment_id
