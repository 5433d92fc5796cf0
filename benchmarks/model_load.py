"""Seconds to load each packaged model: the one-off SmolLM2 conversion, then a cached load.

    python benchmarks/model_load.py [--fresh-cache]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)


def timed(spec: str) -> float:
    from cgcap import models

    start = time.perf_counter()
    models.load(spec)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh-cache", action="store_true", help="convert SmolLM2 again in a temporary cache")
    args = parser.parse_args()
    if args.fresh_cache:
        os.environ["CGCAP_CACHE"] = tempfile.mkdtemp(prefix="cgcap-cache-")
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}")
    first = timed("smollm2-135m")
    print(f"smollm2-135m first load{' (converts GGUF)' if args.fresh_cache else ''}: {first:.2f} s")
    seconds = [timed("smollm2-135m") for _ in range(3)]
    print(f"smollm2-135m cached load: {min(seconds):.2f} s best, {max(seconds):.2f} s worst of 3")
    print(f"minilm-l6 load: {timed('minilm-l6'):.2f} s")


if __name__ == "__main__":
    main()
