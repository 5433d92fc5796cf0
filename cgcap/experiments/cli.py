"""``cgcap experiment real-captions | iterations | transfer``: the paper's three open checks.

Each logs one MLflow parent run with a child run per classifier, n or cell, a table and a
plot, and prints the parent's id; ``cgcap runs compare`` puts the parents side by side.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _guides(texts: list[str]):
    from cgcap.experiments.common import parse_guide

    return dict(parse_guide(text) for text in texts) or None


def _iterations(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"iterations must be whole numbers >= 1 (0 is always added), got {text!r}")
    return values


def _real_captions(args: argparse.Namespace) -> int:
    from cgcap.experiments.real_captions import RealCaptionRequest, run_real_captions

    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    request = RealCaptionRequest(
        dataset=args.dataset, data_root=args.data_root, split=args.split, limit=args.limit, output=args.output,
        negatives_dataset=args.negatives_dataset, negatives_root=args.negatives_root,
        negatives_split=args.negatives_split, negatives_file=args.negatives, synthetic_positives=args.synthetic_positives,
        synthetic_negatives=args.synthetic_negatives, guides=_guides(args.guide), prefix=args.prefix,
        run_name=args.run_name)
    parent_id, rows = run_real_captions(request, _settings(args))
    print(f"parent run {parent_id}")
    for row in rows:
        synthetic = "" if row.synthetic_accuracy is None else f", synthetic accuracy {row.synthetic_accuracy:.3f}"
        print(f"  {row.guide} ({row.classifier} label {row.wanted_label}) on {row.modality} captions: "
              f"accuracy {row.real_accuracy:.3f}, ROC-AUC {row.real_roc_auc:.3f} "
              f"({row.positives} + {row.negatives}, negatives: {row.negatives_from}){synthetic}")
    return 0


def _run_iterations(args: argparse.Namespace) -> int:
    from cgcap.evaluation.cli import request_from_args
    from cgcap.experiments.iterations import run_iterations

    parent_id, rows = run_iterations(request_from_args(args), _settings(args), args.iterations, args.quality)
    print(f"parent run {parent_id}")
    for row in rows:
        share = "-" if row["gain_share"] is None else f"{row['gain_share']:.0%}"
        seconds = "-" if row["seconds_per_caption"] is None else f"{row['seconds_per_caption']:.2f}"
        print(f"  n={row['n']:<3} quality {row['quality']:.4f}  gain {row['gain']:+.4f} ({share})  {seconds} s/caption")
    return 0


def _run_transfer(args: argparse.Namespace) -> int:
    from cgcap.evaluation.cli import request_from_args
    from cgcap.experiments.transfer import run_transfer

    parent_id, rows = run_transfer(request_from_args(args), _settings(args), _guides(args.guide), args.quality)
    print(f"parent run {parent_id}")
    for row in rows:
        gain = "-" if row["gain"] is None else f"{row['gain']:+.4f}"
        retained = "" if row["retained"] is None else f" (retains {row['retained']:.0%} of the own guide's gain)"
        print(f"  {row['guide']} on {row['modality']}: {row['quality_metric']} {gain} over no classifier{retained}")
    return 0


def _settings(args: argparse.Namespace):
    from cgcap.commands import settings_from_args

    return settings_from_args(args)


def _handled(handler):
    """Experiment and dataset errors are the user's: one line, exit status 2."""
    def run(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from cgcap.commands import CommandError
        from cgcap.data.datasets import DatasetError
        from cgcap.evaluation.run import EvaluationError
        from cgcap.experiments.common import ExperimentError

        try:
            return handler(args)
        except (ExperimentError, DatasetError, EvaluationError) as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("; ".join(item["msg"] for item in error.errors())) from None
    return run


def register(subparsers) -> None:
    from cgcap.commands import add_settings_arguments
    from cgcap.data.datasets import READERS
    from cgcap.evaluation.cli import add_dataset_arguments

    commands = subparsers.add_parser("experiment", help="the paper's open checks, logged to MLflow").add_subparsers(
        dest="experiment_command", metavar="EXPERIMENT", required=True)
    guide_help = ("a classifier to compare, NAME=SPEC,LABEL (repeatable), e.g. visual=models:/visual-classifier@"
                  "champion,1; default: the profile's audio and image guides")
    quality_help = "the metric gains are measured in (default: hit rate, else CIDEr-D, BERTScore-F1, the encoder cosine)"

    real = commands.add_parser("real-captions", help="classifier accuracy on a dataset's own reference captions")
    real.add_argument("--dataset", required=True, choices=sorted(READERS))
    real.add_argument("--data-root", required=True)
    real.add_argument("--split", default=None)
    real.add_argument("--limit", type=int, default=None, help="only the first N items")
    real.add_argument("--output", required=True, help="folder for the table and the plot")
    real.add_argument("--negatives-dataset", choices=sorted(READERS), default=None,
                      help="another modality's dataset whose captions are the negatives")
    real.add_argument("--negatives-root", default=None)
    real.add_argument("--negatives-split", default=None)
    real.add_argument("--negatives", type=Path, default=None, help="held-out negative sentences, one a line")
    real.add_argument("--synthetic-positives", type=Path, default=None,
                      help="generated label-1 sentences for the synthetic figure (default: the audibility test split)")
    real.add_argument("--synthetic-negatives", type=Path, default=None)
    real.add_argument("--guide", action="append", default=[], help=guide_help)
    real.add_argument("--prefix", default=None, help="before each caption (default: the classifier's training prefix)")
    real.add_argument("--tracking-uri", default=None)
    real.add_argument("--run-name", default=None)
    add_settings_arguments(real)
    real.set_defaults(handler=_handled(_real_captions))

    iterations = commands.add_parser("iterations", help="quality against seconds per caption for n cache updates")
    add_dataset_arguments(iterations)
    iterations.add_argument("--iterations", type=_iterations, default=[1, 5, 10, 20],
                            help="n values besides the baseline 0 (default 1,5,10,20)")
    iterations.add_argument("--quality", default=None, help=quality_help)
    add_settings_arguments(iterations)
    iterations.set_defaults(handler=_handled(_run_iterations))

    transfer = commands.add_parser("transfer", help="classifier x modality: each guide's gain over λ1 = 0")
    add_dataset_arguments(transfer)
    transfer.add_argument("--guide", action="append", default=[], help=guide_help)
    transfer.add_argument("--quality", default=None, help=quality_help)
    add_settings_arguments(transfer)
    transfer.set_defaults(handler=_handled(_run_transfer))
