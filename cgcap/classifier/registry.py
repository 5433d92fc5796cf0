"""One training as one MLflow run; the registered model and its ``champion`` alias.

The run logs the training settings, the dataset's counts and hash, validation
metrics per epoch and test metrics. The model is logged as MLflow "models from
code" (``pyfunc_model.py``) with the Hugging Face safetensors folder as its artifact:
nothing is pickled, and ``cgcap.models.load("models:/NAME@champion")`` finds the folder.

``champion`` moves only to a model that beats the current champion on the same test
split: same dataset hash, split seed and fractions. The champion is re-scored on that
split now, by the same code, rather than trusting numbers recorded elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from pathlib import Path

from pydantic import BaseModel

from cgcap.classifier.data import LabelledDataset
from cgcap.classifier.evaluation import ClassifierMetrics, evaluate
from cgcap.classifier.training import EpochRecord, TrainedClassifier, TrainingSettings, train_classifier

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "audibility-classifier"
CHAMPION_ALIAS = "champion"
DEFAULT_EXPERIMENT = "cgcap-classifier"
PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")


class ChampionDecision(BaseModel):
    promoted: bool
    reason: str
    metric: str
    new_value: float
    previous_version: str | None = None
    previous_value: float | None = None


class TrainingReport(BaseModel):
    """What ``cgcap classifier train`` prints and the Ray job returns."""

    run_id: str
    dataset_hash: str
    test_split_id: str
    counts: dict[str, int]
    test: ClassifierMetrics
    history: list[EpochRecord]
    train_seconds: float
    model_uri: str
    registered_version: str | None = None
    champion: ChampionDecision | None = None
    folder: str | None = None


def identify_test_split(dataset: LabelledDataset) -> str:
    """Names the exact test split: the data, the seed and the fractions that cut it."""
    cut = dataset.split_settings
    key = f"{dataset.dataset_hash}:{cut.seed}:{cut.validation_fraction}:{cut.test_fraction}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _log_params(settings: TrainingSettings, dataset: LabelledDataset, sources: dict[str, str]) -> None:
    import mlflow

    params = {key: value for key, value in settings.model_dump(exclude={"split"}).items()}
    params["prefix"] = repr(settings.prefix)  # keeps a trailing space visible
    params.update({f"split.{key}": value for key, value in settings.split.model_dump().items()})
    params.update({f"data.{key}": value for key, value in sources.items()})
    params.update({f"data.count.{key}": value for key, value in dataset.counts.model_dump().items()})
    params["data.hash"] = dataset.dataset_hash
    mlflow.log_params(params)
    mlflow.set_tags({"dataset_hash": dataset.dataset_hash, "test_split_id": identify_test_split(dataset),
                     "cgcap.kind": "guidance-classifier"})
    mlflow.log_dict(dataset.counts.model_dump(), "dataset_counts.json")


def _log_model(trained: TrainedClassifier, registered_name: str | None) -> tuple[str, str | None]:
    import mlflow
    import torch
    import transformers

    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PYFUNC_FILE),
        artifacts={"classifier": str(trained.folder)},
        # Given, not inferred: inference would load the model in a subprocess just to list imports.
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}",
                          f"mlflow=={mlflow.__version__}"],
        registered_model_name=registered_name,
    )
    version = str(info.registered_model_version) if registered_name and info.registered_model_version else None
    return info.model_uri, version


def _current_champion(name: str):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def _better(new: ClassifierMetrics, old: ClassifierMetrics, metric: str) -> bool:
    """Strictly better on ``metric``; accuracy breaks an exact tie."""
    new_value, old_value = getattr(new, metric), getattr(old, metric)
    if math.isnan(new_value):
        return False
    if math.isnan(old_value) or new_value != old_value:
        return math.isnan(old_value) or new_value > old_value
    return metric != "accuracy" and new.accuracy > old.accuracy


def decide_champion(name: str, version: str, test: ClassifierMetrics, dataset: LabelledDataset,
                    metric: str = "roc_auc", force: bool = False) -> ChampionDecision:
    """Move ``champion`` to ``version`` if it beats the current champion on the same test split."""
    from mlflow import MlflowClient

    from cgcap.classifier.model import TextClassifier

    client = MlflowClient()
    new_value = getattr(test, metric)
    champion = _current_champion(name)
    split_id = identify_test_split(dataset)
    if champion is None:
        decision = ChampionDecision(promoted=True, reason="no champion yet", metric=metric, new_value=new_value)
    elif force:
        decision = ChampionDecision(promoted=True, reason="promotion forced", metric=metric, new_value=new_value,
                                    previous_version=str(champion.version))
    elif champion.tags.get("test_split_id") != split_id:
        decision = ChampionDecision(
            promoted=False, metric=metric, new_value=new_value, previous_version=str(champion.version),
            reason=f"champion v{champion.version} was tested on another split "
                   f"({champion.tags.get('test_split_id')!r}, this one {split_id!r}): not comparable; "
                   "use --force-champion to promote anyway",
        )
    else:
        previous = TextClassifier.load(f"models:/{name}/{champion.version}")
        previous_test = evaluate(previous, dataset.test)  # the champion's own training prefix
        promoted = _better(test, previous_test, metric)
        decision = ChampionDecision(
            promoted=promoted, metric=metric, new_value=new_value, previous_version=str(champion.version),
            previous_value=getattr(previous_test, metric),
            reason=("beats" if promoted else "does not beat")
            + f" champion v{champion.version} on the same test split ({metric} {new_value:.4f} vs "
              f"{getattr(previous_test, metric):.4f})",
        )
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return decision


def train_and_log(
    dataset: LabelledDataset,
    settings: TrainingSettings,
    sources: dict[str, str] | None = None,
    register: bool = False,
    model_name: str = DEFAULT_MODEL_NAME,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    output_folder: str | Path | None = None,
    champion_metric: str = "roc_auc",
    force_champion: bool = False,
) -> TrainingReport:
    """Train as one MLflow run; with ``register``, a new version of ``model_name`` and the champion rule."""
    import mlflow
    from mlflow import MlflowClient

    from cgcap import tracking

    tracking.configure(tracking_uri, experiment)
    with tempfile.TemporaryDirectory(prefix="cgcap-trained-") as scratch, \
            mlflow.start_run(run_name=f"classifier {settings.base}") as run:
        _log_params(settings, dataset, sources or {})

        def log_evaluation(record: EpochRecord) -> None:
            mlflow.log_metrics({f"validation_{k}": v for k, v in record.validation.items()} | {"epoch": record.epoch},
                               step=record.step)

        folder = Path(output_folder) if output_folder else Path(scratch) / "classifier"
        trained = train_classifier(dataset, settings, folder, on_evaluation=log_evaluation)
        mlflow.log_metrics({f"test_{k}": v for k, v in trained.test.model_dump(exclude={"n"}).items()}
                           | {"train_seconds": trained.train_seconds, "test_n": trained.test.n})
        mlflow.set_tag("stopped_by_time_limit", str(trained.stopped_by_time_limit))
        model_uri, version = _log_model(trained, model_name if register else None)

        decision = None
        if version is not None:
            client = MlflowClient()
            for key, value in {"dataset_hash": dataset.dataset_hash, "test_split_id": identify_test_split(dataset),
                               "base": settings.base, "prefix": repr(settings.prefix),
                               **{f"test_{k}": f"{v:.6f}" for k, v in trained.test.model_dump(exclude={"n"}).items()}}.items():
                client.set_model_version_tag(model_name, version, key, value)
            decision = decide_champion(model_name, version, trained.test, dataset, champion_metric, force_champion)
            mlflow.set_tags({"champion.promoted": str(decision.promoted), "champion.reason": decision.reason})
            if decision.previous_value is not None:
                mlflow.log_metric(f"champion_previous_test_{decision.metric}", decision.previous_value)
            mlflow.log_dict(decision.model_dump(), "champion_decision.json")
            log.info("champion: %s", decision.reason)
        return TrainingReport(
            run_id=run.info.run_id, dataset_hash=dataset.dataset_hash, test_split_id=identify_test_split(dataset),
            counts=dataset.counts.model_dump(), test=trained.test, history=trained.history,
            train_seconds=trained.train_seconds, model_uri=model_uri, registered_version=version, champion=decision,
            folder=str(output_folder) if output_folder else None,
        )
