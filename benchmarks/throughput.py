"""Captions per minute when an evaluation actor decodes its inputs together, against one at a time.

Runs the evaluation actor's own path (``CaptioningActor.caption_items``: read each file,
embed it, decode) over the grounding dev set (data/devset, 27 real clips and photos; built
by ``scripts/install.sh --dev``), or over the bundled samples repeated to ``--items``, with
``evaluation.decode_batch`` = 1 (one input per loop, the path before batching) and each
batch size given. Each batch size runs in its own process, after one warm-up caption, so
its peak resident memory is its own. Prints per batch size: captions per minute, seconds
per caption, peak RSS and how many captions are identical to batch 1's, then one line:

    throughput: batch B R.RRx captions/min over batch 1, identical captions N/M

    python benchmarks/throughput.py                       # offline profile, dev set, batches 1 4 8 16
    python benchmarks/throughput.py --batches 1 8 --items 24 --samples
    python benchmarks/throughput.py --device cuda --batches 1 8 32 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import cgcap  # noqa: F401  (no hub by default, before transformers loads: docs/OFFLINE.md)

ROOT = Path(__file__).resolve().parents[1]


def media_files(samples: bool, items: int) -> list[Path]:
    """The dev set's clips and photos (or the bundled samples), repeated until there are ``items``."""
    if samples:
        files = sorted((ROOT / "cgcap/samples").iterdir())
    else:
        folder = ROOT / "data/devset"
        if not folder.is_dir():
            raise SystemExit("no dev set in data/devset: run `bash scripts/install.sh --dev` (or pass --samples)")
        files = sorted((folder / "audio").iterdir()) + sorted((folder / "image").iterdir())
    return [files[i % len(files)] for i in range(max(items, len(files) if not samples else items))]


def worker(args: argparse.Namespace) -> None:
    """One batch size in this process: warm up, then caption every file; prints one JSON line."""
    import torch

    from cgcap.config import load_settings
    from cgcap.evaluation.actor import CaptioningActor

    torch.set_num_threads(args.threads)
    overrides = [f"evaluation.decode_batch={args.batch}", f"models.device={args.device}", *args.set]
    settings = load_settings(args.profile, overrides=overrides)
    actor = CaptioningActor(settings.model_dump(mode="json"))
    files = media_files(args.samples, args.items)
    actor.caption_items([("warm-up", str(files[0]))])  # first-use costs (ONNX sessions, tagger) out of the timing
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    rows = actor.caption_items([(f"{i}:{path.name}", str(path)) for i, path in enumerate(files)])
    seconds = time.perf_counter() - started
    errors = [row.error for row in rows if row.error]
    print(json.dumps({
        "batch": args.batch, "seconds": seconds, "captions": [row.caption for row in rows], "errors": errors,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--items", type=int, default=24, help="at least this many inputs (files repeat)")
    parser.add_argument("--samples", action="store_true", help="the bundled samples instead of the dev set")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting override")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    batches = [1] + [b for b in args.batches if b != 1]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"machine: {cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; device {args.device}; "
          f"profile {args.profile}; {args.threads} torch threads", flush=True)
    runs = {}
    for batch in batches:
        command = [sys.executable, __file__, "--worker", "--batch", str(batch), "--profile", args.profile,
                   "--items", str(args.items), "--device", args.device, "--threads", str(args.threads)]
        command += ["--samples"] * args.samples + [f"--set={item}" for item in args.set]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs[batch] = run = json.loads(output.strip().splitlines()[-1])
        n = len(run["captions"])
        same = sum(a == b for a, b in zip(run["captions"], runs[1]["captions"]))
        memory = f", CUDA peak {run['cuda_peak_mib']:.0f} MiB" if run["cuda_peak_mib"] is not None else ""
        print(f"batch {batch:3d}: {60 * n / run['seconds']:6.1f} captions/min, {run['seconds'] / n:5.2f} s/caption, "
              f"peak RSS {run['rss_mib']:.0f} MiB{memory}, identical to batch 1: {same}/{n}, "
              f"errors {len(run['errors'])}, load {os.getloadavg()[0]:.2f}", flush=True)
    if len(batches) > 1:
        print("captions (batch 1 | each other batch where it differs):")
        for i, caption in enumerate(runs[1]["captions"]):
            others = [f"b{b}: {runs[b]['captions'][i]}" for b in batches[1:] if runs[b]["captions"][i] != caption]
            print(f"  {caption}" + (f"   <> {'; '.join(others)}" if others else ""))
    best = max(batches, key=lambda b: 1 / runs[b]["seconds"])
    n = len(runs[1]["captions"])
    same = sum(a == b for a, b in zip(runs[best]["captions"], runs[1]["captions"]))
    print(f"throughput: batch {best} {runs[1]['seconds'] / runs[best]['seconds']:.2f}x captions/min over batch 1, "
          f"identical captions {same}/{n}")


if __name__ == "__main__":
    main()
