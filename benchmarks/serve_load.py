"""Load on the Serve app: requests per second, p50/p95 latency and errors at 1, 4 and 8 concurrent
clients, with the decoder's continuous batching on and off (``serve.continuous_batching``).
Prints one table; asserts nothing.

    python benchmarks/serve_load.py                                  # tiny profile
    python benchmarks/serve_load.py --profile offline --clients 1 4 8
    python benchmarks/serve_load.py --profile offline --soak 10      # 8 clients, 10 min, decoder killed at 5

Each client posts the same 1 s WAV tone in a loop; latency is the HTTP round trip. ``--soak``
keeps 8 clients posting for the given minutes, kills the decoder replica halfway, and
reports every failed request (and whether it was in flight at the kill), the time until
the next success, and the resident memory of the Serve replicas at minute 1 and at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import threading
import time
from pathlib import Path
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


def post(url: str, wav: bytes) -> tuple[float, int, int]:
    """(latency, HTTP status, the largest batch the response saw); a refused connection is status 0."""
    started = time.perf_counter()
    try:
        response = requests.post(url, files={"file": ("tone.wav", wav, "audio/wav")}, timeout=600)
    except requests.RequestException:
        return time.perf_counter() - started, 0, 0
    size = 0
    if response.status_code == 200:
        size = max([seen["max_batch"] for seen in response.json()["batching"].values()] or [0])
    return time.perf_counter() - started, response.status_code, size


def run_level(url: str, wav: bytes, clients: int, total: int) -> dict:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: post(url, wav), range(total)))
    wall = time.perf_counter() - started
    latencies = [latency for latency, status, _ in results if status == 200]
    return {"requests": total, "throughput": len(latencies) / wall,
            "p50": percentile(latencies, 50) if latencies else float("nan"),
            "p95": percentile(latencies, 95) if latencies else float("nan"),
            "errors": sum(status != 200 for _, status, _ in results),
            "max_batch": max(size for _, _, size in results)}


def replica_rss_mib() -> dict[str, float]:
    """Resident memory of each Serve replica process, by its process title."""
    rss = {}
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "ServeReplica:cgcap" not in title:
                continue
            pages = int((proc / "statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        rss[title.split("ServeReplica:cgcap:")[1].split()[0]] = pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return rss


def soak(url: str, health: str, wav: bytes, minutes: float, clients: int = 8) -> None:
    """``clients`` posting for ``minutes``; the decoder replica is killed halfway."""
    import ray

    stop_at = time.monotonic() + 60 * minutes
    kill_at = time.monotonic() + 30 * minutes
    log: list[tuple[float, float, int]] = []  # (start, end, status)
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < stop_at:
            begun = time.monotonic()
            latency, status, _ = post(url, wav)
            with lock:
                log.append((begun, begun + latency, status))

    memory: dict[str, dict[str, float]] = {}
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(min(60, 30 * minutes))
    memory["minute 1"] = replica_rss_mib()
    time.sleep(max(0.0, kill_at - time.monotonic()))
    replica = requests.get(health, timeout=60).json()["deployments"]["GuidedDecoder"]["replica"]
    killed = time.monotonic()
    ray.kill(ray.get_actor(replica, namespace="serve"), no_restart=True)
    for thread in threads:
        thread.join()
    memory["end"] = replica_rss_mib()
    failed = [(begun, end, status) for begun, end, status in log if status != 200]
    in_flight = [f for f in failed if f[0] <= killed <= f[1]]
    recovered = min((end for begun, end, status in log if status == 200 and begun > killed), default=None)
    print(f"\nSoak: {clients} clients for {minutes:g} min, decoder replica {replica} killed at "
          f"{(killed - (stop_at - 60 * minutes)) / 60:.1f} min")
    print(f"requests {len(log)}, ok {len(log) - len(failed)}, failed {len(failed)} "
          f"(in flight at the kill: {len(in_flight)}, after it: {len(failed) - len(in_flight)}); "
          f"statuses of failures: {sorted({status for _, _, status in failed})}")
    print(f"first success started after the kill: {recovered - killed:.1f} s after it" if recovered else
          "no success after the kill")
    for when, rss in memory.items():
        print(f"RSS at {when}: " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(rss.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--requests", type=int, default=None, help="requests per level (default 6 x clients, >= 8)")
    parser.add_argument("--modes", nargs="+", choices=["on", "off"], default=["on", "off"],
                        help="continuous batching on and/or off")
    parser.add_argument("--soak", type=float, default=None, metavar="MINUTES",
                        help="instead: 8 clients for MINUTES with continuous batching, decoder killed halfway")
    args = parser.parse_args()

    import ray
    from ray import serve

    from cgcap.serving.cli import start_local

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/captions"
    wav = wav_tone()
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; profile {args.profile} "
          f"{' '.join(args.overrides)}; 1 replica per deployment", flush=True)
    rows = []
    try:
        if args.soak is not None:
            start_local(args.profile, overrides=args.overrides, port=port, num_cpus=4)
            run_level(url, wav, 1, 2)  # warm-up: first calls load models
            return soak(url, f"http://127.0.0.1:{port}/v1/health", wav, args.soak)
        for mode in args.modes:
            overrides = args.overrides + [f"serve.continuous_batching={'true' if mode == 'on' else 'false'}"]
            start_local(args.profile, overrides=overrides, port=port)
            run_level(url, wav, 1, 2)  # warm-up: first calls load models
            for clients in args.clients:
                # Six rounds per client: with two or three, the rounds where clients start and finish
                # unevenly weigh as much as the steady load the figure is about.
                total = args.requests or max(8, 6 * clients)
                rows.append({"continuous": mode, "clients": clients, **run_level(url, wav, clients, total)})
                print(rows[-1], flush=True)
            serve.shutdown()
    finally:
        serve.shutdown()
        ray.shutdown()

    print(f"\nServe load, profile {args.profile} {' '.join(args.overrides)}; {cpu_model()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; 1 replica per deployment")
    print(f"{'continuous':>10} {'clients':>7} {'requests':>8} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} "
          f"{'errors':>6} {'max batch':>9}")
    for row in rows:
        print(f"{row['continuous']:>10} {row['clients']:>7} {row['requests']:>8} {row['throughput']:>7.2f} "
              f"{row['p50']:>7.2f} {row['p95']:>7.2f} {row['errors']:>6} {row['max_batch']:>9}")
    for clients in args.clients:
        on = [r for r in rows if r["clients"] == clients and r["continuous"] == "on"]
        off = [r for r in rows if r["clients"] == clients and r["continuous"] == "off"]
        if on and off:
            print(f"{clients} clients: continuous batching {on[0]['throughput'] / off[0]['throughput']:.2f}x req/s, "
                  f"p95 {on[0]['p95']:.2f} s against {off[0]['p95']:.2f} s")


def cpu_model() -> str:
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
