"""``cgcap classifier train|evaluate`` and ``jobs/train_classifier.py``: the command-line contract."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cgcap.cli import main

pytestmark = pytest.mark.slow  # trains and registers classifiers, and runs the Ray job entrypoint

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def sentence_files(tmp_path, audibility_files):
    paths = []
    for name, source in zip(("audible.txt", "not_audible.txt"), audibility_files):
        path = tmp_path / name
        path.write_text("\n".join([line for line in source.read_text().splitlines() if line.strip()][:60]) + "\n")
        paths.append(str(path))
    return paths


def test_train_registers_and_evaluate_prints_the_four_metrics_as_json(tracking_uri, sentence_files, capsys):
    positives, negatives = sentence_files
    code = main(["classifier", "train", "--positives", positives, "--negatives", negatives,
                 "--base", "tiny:bert-classifier", "--epochs", "1", "--register", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["registered_version"] == "1" and report["champion"]["promoted"]
    assert report["counts"]["positive"] == report["counts"]["negative"] == 60

    code = main(["classifier", "evaluate", "--model", "models:/audibility-classifier@champion",
                 "--positives", positives, "--negatives", negatives, "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(printed) == {"accuracy", "roc_auc", "f1", "n"}
    assert printed["n"] == 120
    assert 0.0 <= printed["accuracy"] <= 1.0 and 0.0 <= printed["roc_auc"] <= 1.0


def test_train_refuses_an_empty_file_in_one_line_with_status_2(tracking_uri, sentence_files, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code = main(["classifier", "train", "--positives", sentence_files[0], "--negatives", str(empty),
                 "--base", "tiny:bert-classifier"])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.count("\n") == 0 and "empty.txt is empty" in error


def test_train_without_data_says_which_arguments_are_needed(tracking_uri, capsys):
    code = main(["classifier", "train", "--base", "tiny:bert-classifier"])
    assert code == 2
    assert "--positives and --negatives" in capsys.readouterr().err


def test_evaluate_of_an_unregistered_model_says_how_to_get_one(tracking_uri, sentence_files, capsys):
    code = main(["classifier", "evaluate", "--model", "models:/audibility-classifier@champion",
                 "--positives", sentence_files[0], "--negatives", sentence_files[1], "--json"])
    assert code == 2
    assert "cgcap classifier train --register" in capsys.readouterr().err


def test_ray_job_entry_point_trains_registers_and_prints_its_report(tmp_path, sentence_files):
    uri = f"sqlite:///{tmp_path / 'job.db'}"
    done = subprocess.run(
        [sys.executable, str(REPOSITORY / "jobs" / "train_classifier.py"), "--positives", sentence_files[0],
         "--negatives", sentence_files[1], "--base", "tiny:bert-classifier", "--epochs", "1", "--register",
         "--tracking-uri", uri],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env={**os.environ, "MLFLOW_TRACKING_URI": ""},  # the --tracking-uri argument decides
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["registered_version"] == "1"

    import mlflow

    mlflow.set_tracking_uri(uri)
    version = mlflow.MlflowClient().get_model_version_by_alias("audibility-classifier", "champion")
    assert str(version.version) == "1" and version.tags["dataset_hash"] == report["dataset_hash"]


def test_ray_job_entry_point_refuses_bad_data_with_status_2(tmp_path, sentence_files):
    binary = tmp_path / "noise.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    done = subprocess.run(
        [sys.executable, str(REPOSITORY / "jobs" / "train_classifier.py"), "--positives", str(binary),
         "--negatives", sentence_files[1], "--base", "tiny:bert-classifier", "--tracking-uri",
         f"sqlite:///{tmp_path / 'job.db'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert done.returncode == 2
    assert "noise.bin is binary" in done.stderr
