"""``cgcap evaluate``, which ``jobs/evaluate.py`` runs as a Ray job entrypoint."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cgcap.commands import CommandError, add_settings_arguments, settings_from_args
from cgcap.data.datasets import READERS, DatasetError

DESCRIPTION = "Caption a dataset with a Ray Data actor pool, score it, and log one MLflow run."


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset, its subset, the output folder and MLflow: shared by evaluations and experiments."""
    parser.add_argument("--dataset", required=True, choices=sorted(READERS))
    parser.add_argument("--data-root", required=True, help="the dataset's folder, in its published layout")
    parser.add_argument("--split", default=None, help="e.g. test (AudioCaps), evaluation (Clotho), test (COCO Karpathy)")
    parser.add_argument("--output", required=True, help="folder for predictions; rerun with the same folder to resume")
    parser.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: settings / MLFLOW_TRACKING_URI)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    parser.add_argument("--ids", default=None, help="comma-separated item ids, or @FILE with one id per line")
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--quiet", action="store_true", help="do not print each caption")
    parser.add_argument("--in-process", action="store_true",
                        help="caption in this process with the same actor class, without Ray (small runs)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join, host:port (default: RAY_ADDRESS, else a new local Ray)")


def request_from_args(args: argparse.Namespace):
    """The ``EvaluationRequest`` of ``add_dataset_arguments``' options; ``--tracking-uri`` wins over settings."""
    from cgcap.evaluation.run import EvaluationRequest

    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri  # wins over settings, as tracking.py says
    return EvaluationRequest(
        dataset=args.dataset, data_root=args.data_root, split=args.split, output=args.output,
        limit=args.limit, ids=_ids(args.ids), run_name=args.run_name, echo=not args.quiet,
        in_process=args.in_process, ray_address=args.address,
    )


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset arguments, ``--sweep`` and the settings arguments."""
    add_dataset_arguments(parser)
    parser.add_argument("--sweep", default=None, metavar="KEY=V1,V2,...",
                        help="one child run per value, e.g. decoding.lambda_cls=0,0.3,0.6,0.9")
    add_settings_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``cgcap evaluate``'s own arguments (what follows ``evaluate``)."""
    parser = argparse.ArgumentParser(prog="cgcap evaluate", description=DESCRIPTION)
    add_evaluation_arguments(parser)
    return parser


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="caption a dataset, score it and log an MLflow run",
                                   description=DESCRIPTION)
    add_evaluation_arguments(parser)
    parser.set_defaults(handler=_evaluate)


def _ids(text: str | None) -> list[str] | None:
    if not text:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise DatasetError(f"--ids file {path} does not exist")
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def _evaluate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from cgcap import tracking
    from cgcap.config import SettingsError
    from cgcap.evaluation.predictions import PredictionStore
    from cgcap.evaluation.run import EvaluationError, run_evaluation
    from cgcap.evaluation.sweep import run_sweep
    from cgcap.models import ModelNotFoundError
    from cgcap.ray_connection import ClusterUnreachable

    try:
        settings = settings_from_args(args)
        request = request_from_args(args)
        tracking.tracking_uri(settings.tracking.tracking_uri)  # a store that dies with the job fails now, not after captioning
        if tracking.submitted_working_dir() and not Path(args.output).is_absolute():
            raise EvaluationError(
                f"--output {args.output!r} is relative, and this Ray job runs in a temporary copy of its --working-dir "
                "that Ray deletes with the session; pass an absolute folder that outlives the job (e.g. /runs/NAME)"
            )
        if args.sweep:
            parent_id, outcomes = run_sweep(request, settings, args.sweep)
            print(f"sweep parent run {parent_id}: " + ", ".join(o.run_id for o in outcomes))
            return 0
        captioned_before = PredictionStore(args.output).done_ids()
        outcome = run_evaluation(request, settings)
    except (SettingsError, DatasetError, EvaluationError, ModelNotFoundError, ValidationError,
            ClusterUnreachable, tracking.TrackingStoreError) as error:
        raise CommandError(f"evaluate: {error}") from None
    print(f"MLflow run {outcome.run_id}; predictions under {outcome.output}")
    for name, value in sorted(outcome.metrics.items()):
        print(f"  {name:28} {value:.4f}")
    for name, reason in sorted(outcome.unavailable.items()):
        print(f"  {name:28} unavailable: {reason}")
    for name, value in outcome.counts.items():
        print(f"  {name:28} {value}")
    # The median is over every caption in --output, so a rerun that only resumed (or only failed) has
    # no time of its own to report.
    captioned_now = len(PredictionStore(args.output).done_ids() - captioned_before)
    if not captioned_now:
        print(f"  {'seconds_per_caption':28} -  (this run captioned nothing)")
    elif outcome.seconds_per_caption is not None:
        print(f"  {'seconds_per_caption':28} {outcome.seconds_per_caption:.2f}  (median of the output's captions)")
    return 0
