"""Where a job's MLflow record lives: never in the temporary working-dir copy Ray deletes with the session."""

from __future__ import annotations

import json

import pytest

from cgcap import tracking
from cgcap.cli import main as cgcap_main


def evaluate(argv: list[str]) -> int:
    """``cgcap evaluate ARGV``, what ``jobs/evaluate.py ARGV`` runs."""
    return cgcap_main(["evaluate", *argv])


JOB_WITH_WORKING_DIR = json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_0123.zip", "env_vars": {}},
                                   "metadata": {"job_submission_id": "raysubmit_x"}})


@pytest.fixture
def submitted_job(monkeypatch):
    """This process as the driver of `ray job submit --working-dir .` (what Ray's job supervisor sets)."""
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", JOB_WITH_WORKING_DIR)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.mark.parametrize("uri", ["sqlite:///mlflow.db", "sqlite:///runs/mlflow.db", "mlruns"])
def test_a_relative_store_inside_a_submitted_job_is_refused_naming_the_fix(submitted_job, uri):
    with pytest.raises(tracking.TrackingStoreError) as refused:
        tracking.tracking_uri(uri)
    assert repr(uri) in str(refused.value)
    assert "--runtime-env-json" in str(refused.value) and "MLFLOW_TRACKING_URI" in str(refused.value)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "sqlite:////shared/mlflow.db", "postgresql://db/mlflow"])
def test_a_server_or_an_absolute_store_is_accepted_inside_a_submitted_job(submitted_job, uri):
    assert tracking.tracking_uri(uri) == uri


def test_the_environment_wins_so_the_runtime_env_fixes_a_relative_setting(submitted_job, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert tracking.tracking_uri("sqlite:///mlflow.db") == "http://mlflow:5000"


def test_a_relative_store_is_fine_outside_a_job_or_in_a_job_without_a_working_dir(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert tracking.tracking_uri() == "sqlite:///mlflow.db"  # a local run keeps its store where it runs
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {"env_vars": {}}}))
    assert tracking.tracking_uri() == "sqlite:///mlflow.db"  # no working_dir: the job runs in its own folder


def test_the_evaluation_job_refuses_before_reading_data_or_captioning(submitted_job, tmp_path, capsys):
    code = evaluate(["--dataset", "folder", "--data-root", str(tmp_path / "none"), "--output", str(tmp_path / "out"),
                     "--profile", "tiny"])
    assert code == 2
    assert "is relative" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_submitted_job_refuses_a_relative_output_folder_that_would_vanish_with_it(submitted_job, monkeypatch,
                                                                                    tmp_path, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.chdir(tmp_path)
    code = evaluate(["--dataset", "folder", "--data-root", str(tmp_path), "--output", "runs/out", "--profile", "tiny"])
    assert code == 2
    assert "--output 'runs/out' is relative" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
