"""Each training is an MLflow run; registered models load by alias; the champion rule."""

from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from cgcap import models
from cgcap.classifier.data import SplitSettings, load_dataset
from cgcap.classifier.model import TextClassifier
from cgcap.classifier.registry import train_and_log
from cgcap.classifier.training import TrainingSettings

pytestmark = pytest.mark.slow  # trains and registers classifiers in MLflow

NAME = "audibility-classifier"
TEXTS = ["A dog barks at the mailman.", "A framed photograph hangs on the wall."]


def reference_slice(folder: Path, per_class: int, sources: tuple[Path, Path]) -> tuple[Path, Path]:
    paths = []
    for name, source in zip(("audible.txt", "not_audible.txt"), sources):
        path = folder / name
        lines = [line for line in source.read_text().splitlines() if line.strip()][:per_class]
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture
def store(tracking_uri):
    """This test's MLflow store, made current before any client is created."""
    from cgcap import tracking
    from cgcap.classifier.registry import DEFAULT_EXPERIMENT

    tracking.configure(None, DEFAULT_EXPERIMENT)
    return tracking_uri


@pytest.fixture
def small_files(tmp_path, audibility_files):
    return reference_slice(tmp_path, 100, audibility_files)


@pytest.fixture
def small(small_files):
    return load_dataset(*small_files)


def tiny(**changes) -> TrainingSettings:
    return TrainingSettings(base="tiny:bert-classifier", epochs=2, batch_size=64, **changes)


def test_a_training_run_logs_params_epoch_metrics_dataset_counts_and_hash(store, small):
    report = train_and_log(small, tiny(prefix="Audio of a "), sources={"positives": "audible.txt"})
    run = MlflowClient().get_run(report.run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["base"] == "tiny:bert-classifier" and params["prefix"] == "'Audio of a '"
    assert params["data.positives"] == "audible.txt"
    assert params["data.hash"] == tags["dataset_hash"] == small.dataset_hash
    assert int(params["data.count.test"]) == small.counts.test == 20
    assert int(params["data.count.positive"]) == 100
    history = MlflowClient().get_metric_history(report.run_id, "validation_roc_auc")
    assert len(history) == 2  # one per epoch
    assert [m.value for m in MlflowClient().get_metric_history(report.run_id, "epoch")] == [1.0, 2.0]
    assert metrics["test_accuracy"] == pytest.approx(report.test.accuracy)
    assert report.registered_version is None
    assert MlflowClient().search_registered_models() == []  # not registered without --register


def test_registered_model_is_safetensors_without_pickles_and_loads_by_champion_alias(store, small, tmp_path):
    report = train_and_log(small, tiny(), register=True, output_folder=tmp_path / "kept")
    assert report.registered_version == "1" and report.champion.promoted
    assert report.champion.reason == "no champion yet"

    downloaded = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}@champion"))
    files = [p for p in downloaded.rglob("*") if p.is_file()]
    assert any(p.name == "model.safetensors" for p in files)
    assert not [p for p in files if p.suffix in {".pkl", ".bin", ".pt", ".pth", ".joblib"}]
    assert "python_model.pkl" not in (downloaded / "MLmodel").read_text()

    loaded = models.load(f"models:/{NAME}@champion")
    assert loaded.kind == "sequence-classifier"
    from_registry = TextClassifier.load(f"models:/{NAME}@champion")
    from_folder = TextClassifier.load(str(tmp_path / "kept"))
    assert torch.equal(from_registry.score(TEXTS), from_folder.score(TEXTS))
    # The pyfunc flavour (models from code) scores the same texts the same way.
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    assert pyfunc.predict(TEXTS) == pytest.approx(from_folder.score(TEXTS).tolist(), abs=1e-6)


def test_champion_moves_only_to_a_model_that_beats_it_on_the_same_test_split(store, small, small_files):
    client = MlflowClient()
    # The tiny random BERT scores texts nearly alike (ROC-AUC near 0.5); a fine-tuned MiniLM ranks them.
    fine_tuned = TrainingSettings(base="minilm-l6", epochs=2, batch_size=16, learning_rate=2e-4)

    first = train_and_log(small, tiny(), register=True)
    assert first.test.roc_auc < 0.7
    assert first.champion.promoted and str(client.get_model_version_by_alias(NAME, "champion").version) == "1"

    second = train_and_log(small, fine_tuned, register=True)
    assert second.test.roc_auc > 0.8 > first.test.roc_auc
    assert second.champion.promoted and second.champion.previous_version == "1"
    assert second.champion.previous_value == pytest.approx(first.test.roc_auc)  # re-scored on this split
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "2"

    third = train_and_log(small, tiny(), register=True)
    assert not third.champion.promoted and "does not beat champion v2" in third.champion.reason
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "2"
    run = client.get_run(third.run_id)
    assert run.data.tags["champion.promoted"] == "False"
    assert run.data.metrics["champion_previous_test_roc_auc"] == pytest.approx(second.test.roc_auc)

    # The same sentences cut with another seed: a different test split, so no comparison.
    reshuffled = load_dataset(*small_files, split_settings=SplitSettings(seed=7))
    fourth = train_and_log(reshuffled, tiny(), register=True)
    assert not fourth.champion.promoted and "not comparable" in fourth.champion.reason
    forced = train_and_log(reshuffled, tiny(), register=True, force_champion=True)
    assert forced.champion.promoted
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == forced.registered_version == "5"
