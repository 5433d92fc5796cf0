"""Guidance classifier speed: scoring throughput, and optionally a full training.

    python benchmarks/classifier.py --model minilm-l6 --texts 512
    python benchmarks/classifier.py --train --positives A.txt --negatives B.txt [--prefix "Audio of a "]
    python benchmarks/classifier.py --first-load [--set epochs=0.5 --set group_by_length=true] [--threads 2]

Scoring: the decoder scores k candidate texts per step (k = 512 in the papers), so
this times ``score`` on k texts shaped like candidates ("Audio of a ..." + a word).
Training: wall time, peak memory and test metrics of ``train_classifier``.
First load: the offline ``minilm-l6-audibility`` recipe (or a variant of it, ``--set``) on the
audibility sentences, trained into a temporary folder (the cached classifier is left alone):
wall and process CPU seconds, torch threads, load average, steps, test accuracy and ROC-AUC.
On an idle machine wall is about CPU / threads; under other load, CPU seconds are the figure to compare.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)


def bench_scoring(model: str, n_texts: int, repeats: int, device: str, batch_size: int) -> dict:
    import torch

    from cgcap.classifier import TextClassifier

    classifier = TextClassifier.load(model, device=device, batch_size=batch_size)
    words = ["dog", "bell", "quiet", "river", "painting", "engine", "crowd", "stone"]
    texts = [f"Audio of a {words[i % len(words)]} number {i}" for i in range(n_texts)]
    classifier.score(texts[:8])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier.score(texts)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"model": model, "texts": n_texts, "threads": torch.get_num_threads(), "device": str(classifier.device), "batch_size": batch_size,
            "best_seconds": round(best, 4), "texts_per_second": round(n_texts / best, 1)}


def bench_training(args: argparse.Namespace) -> dict:
    import torch

    from cgcap.classifier.data import load_dataset
    from cgcap.classifier.training import TrainingSettings, train_classifier

    dataset = load_dataset(args.positives, args.negatives)
    settings = TrainingSettings(base=args.model, prefix=args.prefix, epochs=args.epochs)
    start = time.perf_counter()
    trained = train_classifier(dataset, settings, args.output)
    return {"model": args.model, "prefix": args.prefix, "threads": torch.get_num_threads(),
            "train_examples": len(dataset.train), "train_seconds": round(trained.train_seconds, 1),
            "wall_seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "test": trained.test.model_dump(), "epochs_run": [r.epoch for r in trained.history]}


def _settings_value(text: str):
    """``--set key=value``: JSON where it parses (numbers, true/false), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_first_load(overrides: list[str], threads: int | None) -> dict:
    import os
    import tempfile

    import torch

    from cgcap.classifier import offline
    from cgcap.classifier.data import load_dataset
    from cgcap.classifier.training import train_classifier

    if threads is not None:
        torch.set_num_threads(threads)
    found = offline.find_audibility_data()
    if found is None:
        raise SystemExit("no audibility sentences found: " + offline.how_to_get())
    changes = {key: _settings_value(value) for key, value in (item.split("=", 1) for item in overrides)}
    unknown = set(changes) - set(type(offline.first_load_settings()).model_fields)
    if unknown:
        raise SystemExit(f"--set {', '.join(sorted(unknown))}: not a TrainingSettings field")
    settings = offline.first_load_settings().model_copy(update=changes)
    settings = type(settings).model_validate(settings.model_dump())  # refuse a bad --set like the CLI does
    dataset = load_dataset(*found)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cgcap-first-load-") as folder:
        cpu, start = _cpu_seconds(), time.perf_counter()
        trained = train_classifier(dataset, settings, folder)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return {"variant": changes, "threads": torch.get_num_threads(), "steps": trained.steps,
            "train_examples": len(dataset.train), "wall_seconds": round(wall, 1),
            "train_seconds": round(trained.train_seconds, 1), "cpu_seconds": round(cpu, 1),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "test_accuracy": round(trained.test.accuracy, 4), "test_roc_auc": round(trained.test.roc_auc, 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--first-load", action="store_true", help="time the offline classifier's first-load recipe")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --first-load: change one TrainingSettings field of the recipe")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--positives")
    parser.add_argument("--negatives")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--output", default="/tmp/cgcap-benchmark-classifier")
    args = parser.parse_args()
    if args.first_load:
        figures = bench_first_load(args.set, args.threads)
    elif args.train:
        figures = bench_training(args)
    else:
        figures = bench_scoring(args.model, args.texts, args.repeats, args.device, args.batch_size)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
