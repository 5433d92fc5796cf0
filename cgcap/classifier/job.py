"""One training request, the same from ``cgcap classifier train`` and ``jobs/train_classifier.py``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from cgcap.classifier.data import SplitSettings, load_dataset
from cgcap.classifier.registry import DEFAULT_EXPERIMENT, DEFAULT_MODEL_NAME, TrainingReport, train_and_log
from cgcap.classifier.training import TrainingSettings


class TrainingRequest(BaseModel):
    """The job's arguments, validated at the boundary."""

    positives: Path | None = None
    negatives: Path | None = None
    jsonl: Path | None = None
    training: TrainingSettings = TrainingSettings()
    register_model: bool = False
    model_name: str = Field(DEFAULT_MODEL_NAME, min_length=1)
    experiment: str = Field(DEFAULT_EXPERIMENT, min_length=1)
    tracking_uri: str | None = None
    output: Path | None = None
    champion_metric: str = Field("roc_auc", pattern="^(roc_auc|accuracy|f1)$")
    force_champion: bool = False

    @model_validator(mode="after")
    def _one_data_form(self) -> "TrainingRequest":
        if self.jsonl is None and (self.positives is None or self.negatives is None):
            raise ValueError("give --positives and --negatives sentence files, or --jsonl")
        return self


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--positives", type=Path, help="label-1 sentences (e.g. audible.txt), one a line")
    data.add_argument("--negatives", type=Path, help="label-0 sentences (e.g. not_audible.txt), one a line")
    data.add_argument("--jsonl", type=Path, help='instead of the two files: {"text": ..., "label": 0|1} lines')
    data.add_argument("--split-seed", type=int, default=0)
    data.add_argument("--validation-fraction", type=float, default=0.1)
    data.add_argument("--test-fraction", type=float, default=0.1)
    model = parser.add_argument_group("training")
    model.add_argument("--base", default="minilm-l6",
                       help="sequence-classification base: minilm-l6 (offline), distilbert-base-uncased (paper), any spec")
    model.add_argument("--prefix", default="", help='put before every sentence, e.g. "Audio of a " (published code)')
    defaults = TrainingSettings()
    model.add_argument("--epochs", type=float, default=defaults.epochs)
    model.add_argument("--batch-size", type=int, default=defaults.batch_size)
    model.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    model.add_argument("--patience", type=int, default=defaults.patience,
                       help="epochs without a better validation ROC-AUC before stopping")
    model.add_argument("--max-seconds", type=float, default=None, help="stop training after this long")
    model.add_argument("--seed", type=int, default=0)
    model.add_argument("--device", default="auto")
    registry = parser.add_argument_group("MLflow")
    registry.add_argument("--register", action="store_true", help="register the model; champion moves if it is better")
    registry.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    registry.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    registry.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    registry.add_argument("--champion-metric", default="roc_auc", choices=["roc_auc", "accuracy", "f1"])
    registry.add_argument("--force-champion", action="store_true", help="move the champion alias even if not comparable")
    parser.add_argument("--output", type=Path, default=None, help="also keep the trained Hugging Face folder here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def request_from_args(args: argparse.Namespace) -> TrainingRequest:
    return TrainingRequest(
        positives=args.positives, negatives=args.negatives, jsonl=args.jsonl,
        training=TrainingSettings(
            base=args.base, prefix=args.prefix, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, patience=args.patience, max_seconds=args.max_seconds,
            seed=args.seed, device=args.device,
            split=SplitSettings(seed=args.split_seed, validation_fraction=args.validation_fraction,
                                test_fraction=args.test_fraction),
        ),
        register_model=args.register, model_name=args.model_name, experiment=args.experiment,
        tracking_uri=args.tracking_uri, output=args.output, champion_metric=args.champion_metric,
        force_champion=args.force_champion,
    )


def run_training(request: TrainingRequest) -> TrainingReport:
    from cgcap import tracking

    tracking.tracking_uri(request.tracking_uri)  # a store that would die with a submitted job fails before training
    dataset = load_dataset(request.positives, request.negatives, request.jsonl, request.training.split)
    sources = {name: str(getattr(request, name)) for name in ("positives", "negatives", "jsonl") if getattr(request, name)}
    return train_and_log(
        dataset, request.training, sources=sources, register=request.register_model, model_name=request.model_name,
        tracking_uri=request.tracking_uri, experiment=request.experiment, output_folder=request.output,
        champion_metric=request.champion_metric, force_champion=request.force_champion,
    )


def summary(report: TrainingReport) -> str:
    counts = report.counts
    lines = [
        f"data: {counts['read_positive']} positive and {counts['read_negative']} negative read; "
        f"{counts['duplicates_dropped']} duplicates and {counts['conflicts_dropped']} in both classes dropped; "
        f"{counts['positive']} positive, {counts['negative']} negative kept",
        f"split: {counts['train']} train, {counts['validation']} validation, {counts['test']} test "
        f"(dataset {report.dataset_hash[:12]}, split {report.test_split_id})",
        f"trained in {report.train_seconds:.0f} s; test accuracy {report.test.accuracy:.4f}, "
        f"ROC-AUC {report.test.roc_auc:.4f}, F1 {report.test.f1:.4f} (n={report.test.n})",
        f"MLflow run {report.run_id}, model {report.model_uri}",
    ]
    if report.registered_version:
        lines.append(f"registered version {report.registered_version}; champion: {report.champion.reason}")
    if report.folder:
        lines.append(f"model folder: {report.folder}")
    return "\n".join(lines)
