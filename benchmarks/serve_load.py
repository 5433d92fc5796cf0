"""Load on the Serve app: throughput and p50/p95 latency at 1, 4 and 16 concurrent clients,
with @serve.batch on and off (``serve.batching``). Prints one table; asserts nothing.

    python benchmarks/serve_load.py                          # tiny profile, ~2 min on 2 cores
    python benchmarks/serve_load.py --profile offline --requests 16 --clients 1 4

Each client posts the same 1 s WAV tone in a loop; latency is the HTTP round trip.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
import requests  # noqa: E402
import soundfile  # noqa: E402


def wav_tone(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_level(url: str, wav: bytes, clients: int, total: int) -> dict:
    def one(_):
        started = time.perf_counter()
        response = requests.post(url, files={"file": ("tone.wav", wav, "audio/wav")}, timeout=600)
        response.raise_for_status()
        body = response.json()
        sizes = [seen["max_batch"] for seen in body["batching"].values()]
        return time.perf_counter() - started, max(sizes or [0])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(total)))
    wall = time.perf_counter() - started
    latencies = [latency for latency, _ in results]
    return {"requests": total, "throughput": total / wall, "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95), "mean_latency": statistics.mean(latencies),
            "max_batch": max(size for _, size in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=None, help="requests per level (default 2 x clients, >= 8)")
    args = parser.parse_args()

    import ray
    from ray import serve

    from cgcap.serving.cli import start_local

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/captions"
    wav = wav_tone()
    rows = []
    try:
        for batching in (True, False):
            start_local(args.profile, overrides=args.overrides, port=port, batching=batching)
            run_level(url, wav, 1, 2)  # warm-up: first calls load models and compile nothing else
            for clients in args.clients:
                total = args.requests or max(8, 2 * clients)
                rows.append({"batching": "on" if batching else "off", "clients": clients,
                             **run_level(url, wav, clients, total)})
    finally:
        serve.shutdown()
        ray.shutdown()

    print(f"\nServe load, profile {args.profile} {' '.join(args.overrides)}; {platform.machine()}, "
          f"{os.cpu_count()} CPUs; 1 replica per deployment")
    print(f"{'batching':>8} {'clients':>7} {'requests':>8} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} {'max batch':>9}")
    for row in rows:
        print(f"{row['batching']:>8} {row['clients']:>7} {row['requests']:>8} {row['throughput']:>7.2f} "
              f"{row['p50']:>7.2f} {row['p95']:>7.2f} {row['max_batch']:>9}")


if __name__ == "__main__":
    main()
