"""Two-node Ray cluster on this machine: start-up, `serve deploy`, caption latency over HTTP, and
an evaluation job's throughput with its actor pool on both nodes.

    python benchmarks/two_node_cluster.py [--profile tiny] [--requests 8] [--clips 12]

Prints each figure with the load average, since the nodes share this machine's cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cluster.local import LocalRayCluster, TrackingServer, free_ports  # noqa: E402


def report(name: str, value: str) -> None:
    print(f"{name:40} {value}   (load {os.getloadavg()[0]:.1f})", flush=True)


def run(cluster: LocalRayCluster, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def serve_figures(cluster: LocalRayCluster, server: TrackingServer, profile: str, requests: int, folder: Path) -> None:
    (port,) = free_ports(1)
    config = yaml.safe_load((ROOT / "deployments/serve_cluster.yaml").read_text())
    config["http_options"]["port"] = port
    config["applications"][0]["args"] = {"profile": profile, "overrides": ["decoding.max_tokens=4"]}
    config["applications"][0]["runtime_env"]["env_vars"]["MLFLOW_TRACKING_URI"] = server.uri
    (folder / "serve.yaml").write_text(yaml.safe_dump(config))
    started = time.monotonic()
    run(cluster, "serve", "deploy", "--address", cluster.dashboard, str(folder / "serve.yaml"))
    while cluster.api("/api/serve/applications/").get("applications", {}).get("cgcap", {}).get("status") != "RUNNING":
        time.sleep(1)
    report("serve deploy -> RUNNING", f"{time.monotonic() - started:.1f} s")

    body = json.dumps({"content_base64": base64.b64encode((ROOT / "cgcap/samples/bell.flac").read_bytes()).decode(),
                       "options": {"max_tokens": 4}}).encode()

    def caption(_: int) -> float:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/captions", data=body,
                                         headers={"Content-Type": "application/json"})
        begin = time.monotonic()
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
        return time.monotonic() - begin

    caption(0)  # warm-up
    for clients in (1, 4):
        begin = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            latencies = sorted(pool.map(caption, range(requests)))
        elapsed = time.monotonic() - begin
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        report(f"HTTP captions, {clients} client(s)",
               f"{requests / elapsed:.2f} req/s, p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s")
    run(cluster, "serve", "shutdown", "--address", cluster.dashboard, "-y")


def job_figures(cluster: LocalRayCluster, server: TrackingServer, profile: str, clips: int, folder: Path) -> None:
    rate = 16000
    for index in range(clips):
        t = np.arange(rate // 2) / rate
        soundfile.write(folder / "clips" / f"tone{index}.wav", 0.3 * np.sin(2 * np.pi * (220 + 40 * index) * t), rate)
    started = time.monotonic()
    done = run(cluster, "ray", "job", "submit", "--address", cluster.dashboard, "--working-dir", ".",
               "--runtime-env-json", json.dumps({"env_vars": {"MLFLOW_TRACKING_URI": server.uri}}), "--",
               "python", "jobs/evaluate.py", "--dataset", "folder", "--data-root", str(folder / "clips"),
               "--output", str(folder / "out"), "--profile", profile, "--set", "evaluation.actors=2",
               "--set", "evaluation.batch_size=1", "--set", "decoding.max_tokens=6",
               "--set", "evaluation.bertscore_encoder=null")
    elapsed = time.monotonic() - started
    captioned = sum(1 for line in done.stdout.splitlines() if line.startswith("tone"))
    report("ray job submit, end to end", f"{elapsed:.1f} s for {captioned} clips on 2 actors")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--clips", type=int, default=12)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cgcap-cluster-bench-"))
    (folder / "clips").mkdir()
    with LocalRayCluster(head_cpus=3) as cluster:
        started = time.monotonic()
        cluster.start_head()
        cluster.add_worker("worker", cpus=3, gpus=1, resources={"worker_node": 1})
        report("two nodes up (head + worker)", f"{time.monotonic() - started:.1f} s")
        started = time.monotonic()
        server = TrackingServer(folder / "mlflow").start()
        report("mlflow server up", f"{time.monotonic() - started:.1f} s")
        try:
            serve_figures(cluster, server, args.profile, args.requests, folder)
            job_figures(cluster, server, args.profile, args.clips, folder)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
