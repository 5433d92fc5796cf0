"""Guidance classifier speed: scoring throughput, and optionally a full training.

    python benchmarks/classifier.py --model minilm-l6 --texts 512
    python benchmarks/classifier.py --train --positives A.txt --negatives B.txt [--prefix "Audio of a "]

Scoring: the decoder scores k candidate texts per step (k = 512 in the papers), so
this times ``score`` on k texts shaped like candidates ("Audio of a ..." + a word).
Training: wall time, peak memory and test metrics of ``train_classifier``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--positives")
    parser.add_argument("--negatives")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--output", default="/tmp/cgcap-benchmark-classifier")
    args = parser.parse_args()
    figures = bench_training(args) if args.train else bench_scoring(args.model, args.texts, args.repeats, args.device, args.batch_size)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
