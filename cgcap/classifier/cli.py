"""``cgcap classifier train | evaluate | generate-data``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError


def _command_error(message: str):
    from cgcap.commands import CommandError

    return CommandError(message)


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in item['loc']) or 'arguments'}: {item['msg']}" for item in error.errors())


def _train(args: argparse.Namespace) -> int:
    from cgcap.classifier.data import DatasetError
    from cgcap.classifier.job import request_from_args, run_training, summary
    from cgcap.tracking import TrackingStoreError

    try:
        request = request_from_args(args)
        report = run_training(request)
    except ValidationError as error:
        raise _command_error(f"classifier train: {_describe(error)}") from None
    except (DatasetError, TrackingStoreError) as error:
        raise _command_error(str(error)) from None
    # One line of JSON: a Ray job's report is the last line of its logs (jobs/train_classifier.py).
    print(report.model_dump_json() if args.json else summary(report))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from cgcap.classifier.data import DatasetError, evaluation_split
    from cgcap.classifier.evaluation import evaluate
    from cgcap.classifier.model import TextClassifier
    from cgcap.commands import settings_from_args
    from cgcap import tracking

    settings = settings_from_args(args)
    tracking.configure(settings.tracking.tracking_uri, settings.tracking.experiment)  # for models:/ specs
    try:
        split, counts = evaluation_split(args.positives, args.negatives)
    except DatasetError as error:
        raise _command_error(str(error)) from None
    classifier = TextClassifier.load(args.model, device=settings.models.device,
                                     backend=settings.models.text_backend, int8=settings.models.text_int8)
    metrics = evaluate(classifier, split, prefix=args.prefix)
    if args.json:
        print(json.dumps(metrics.model_dump()))
    else:
        prefix = classifier.prefix if args.prefix is None else args.prefix
        print(f"{args.model}: accuracy {metrics.accuracy:.4f}, ROC-AUC {metrics.roc_auc:.4f}, F1 {metrics.f1:.4f} "
              f"on {metrics.n} sentences ({counts.positive} positive, {counts.negative} negative; prefix {prefix!r})")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from cgcap.classifier.data import DatasetError
    from cgcap.classifier.generation import EndpointSettings, GenerationError, generate_sentences

    try:
        if args.local:
            from cgcap.classifier.local_generation import LocalGenerationSettings, generate_locally

            report = generate_locally(
                LocalGenerationSettings(model=args.local, seed=args.seed, batch_size=args.per_request or 64),
                args.positives, args.negatives, args.count, existing=args.existing, max_requests=args.max_requests,
                recipe=args.recipe)
        else:
            report = generate_sentences(
                EndpointSettings.from_environment(), args.positives, args.negatives, args.count,
                existing=args.existing, per_request=args.per_request or 20, max_requests=args.max_requests,
                recipe=args.recipe,
            )
    except (GenerationError, DatasetError, ValidationError) as error:
        message = _describe(error) if isinstance(error, ValidationError) else str(error)
        raise _command_error(f"classifier generate-data: {message}") from None
    if args.json:
        print(report.model_dump_json())
    else:
        print(f"appended {report.written['positives']} sentences to {args.positives} and "
              f"{report.written['negatives']} to {args.negatives} in {report.requests} requests; "
              f"{report.rejected_duplicates} duplicates and {report.rejected_conflicts} in both classes rejected")
        if args.local:
            print(f"{report.filtered['sampled']} replies sampled in {report.seconds:.0f} s; dropped by the filter: "
                  + ", ".join(f"{name} {count}" for name, count in report.filtered.items()
                              if name not in ("sampled", "kept")))
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers) -> None:
    from cgcap.classifier.job import add_training_arguments
    from cgcap.commands import add_settings_arguments

    parser = subparsers.add_parser("classifier", help="the guidance classifier: train, evaluate, generate data")
    commands = parser.add_subparsers(dest="classifier_command", metavar="COMMAND", required=True)

    train = commands.add_parser("train", help="fine-tune a classifier, log it to MLflow, optionally register it")
    add_training_arguments(train)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="accuracy, ROC-AUC and F1 of a classifier on two sentence files")
    evaluate.add_argument("--model", required=True, help="any classifier spec, e.g. models:/audibility-classifier@champion")
    evaluate.add_argument("--positives", required=True, type=Path, help="label-1 sentences, one a line")
    evaluate.add_argument("--negatives", required=True, type=Path, help="label-0 sentences, one a line")
    evaluate.add_argument("--prefix", default=None, help="default: the prefix the model was trained with")
    evaluate.add_argument("--json", action="store_true", help='print {"accuracy", "roc_auc", "f1", "n"}')
    add_settings_arguments(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    generate = commands.add_parser(
        "generate-data", help="write new labelled sentences with an OpenAI-compatible chat endpoint",
        description="Endpoint from CGCAP_LLM_BASE_URL, CGCAP_LLM_MODEL and (if needed) CGCAP_LLM_API_KEY; or, "
                    "with --local, the packaged instruct LM (one sentence a reply, filtered hard).",
    )
    generate.add_argument("--recipe", choices=["audibility", "visual"], default="audibility",
                          help="audibility: can / cannot be heard (the audio paper's); visual: can / cannot be seen "
                               "(for the image classifier, registered as visual-classifier)")
    generate.add_argument("--positives", required=True, type=Path, help="append new label-1 sentences here")
    generate.add_argument("--negatives", required=True, type=Path, help="append new label-0 sentences here")
    generate.add_argument("--count", type=_positive_int, default=100, help="new sentences per class")
    generate.add_argument("--existing", type=Path, action="append", default=[],
                          help="more sentence files to deduplicate against (repeatable)")
    generate.add_argument("--per-request", type=_positive_int, default=None,
                          help="sentences asked for per request (default 20); with --local, replies sampled per "
                               "prompt (default 64)")
    generate.add_argument("--local", metavar="MODEL", choices=["smollm2-135m"], default=None,
                          help="write with this packaged instruct LM instead of an endpoint (visual recipe only)")
    generate.add_argument("--seed", type=int, default=0, help="with --local: the sampling seed")
    generate.add_argument("--max-requests", type=_positive_int, default=None)
    generate.add_argument("--json", action="store_true")
    generate.set_defaults(handler=_generate)
