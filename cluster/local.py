"""A real multi-node Ray cluster and an MLflow tracking server on one machine (tests, benchmarks).

Each node is a ``ray start --block`` process of its own, so the cluster is exactly what
``ray start --head`` / ``ray start --address`` make on separate machines, with token
authentication on (``RAY_AUTH_MODE=token``, this cluster's own token), but:

- every port is a free one picked here and the temp dir is private, so several clusters
  (other users, parallel CI jobs) never meet;
- it is stopped by signalling the processes it started, never by ``ray stop``, which
  stops every Ray on the machine;
- a worker node can be killed without warning (``kill_node``), as when a machine dies.

    python cluster/local.py    # head on 6379/8265 + a GPU-declaring worker + MLflow on 5000, until Ctrl-C
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1 (held open together so they are distinct)."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def reachable(port: int) -> bool:
    with closing(socket.socket()) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready, process: subprocess.Popen, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.5)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _stop(*processes: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM each process group (``ray start --block`` then stops its node), SIGKILL what outlives it.

    All groups are signalled at once and share one grace period: nodes stopped one after the other
    cost a test ten seconds each.
    """
    if not processes:
        return
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    time.sleep(1)  # let the groups' other processes finish their shutdown, then kill the rest
    for process in processes:
        _signal_group(process, signal.SIGKILL)
        process.wait()


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen
    resources: dict[str, float]


@dataclass
class LocalRayCluster:
    """A head and any number of worker nodes; ``env`` is what a client needs (token included)."""

    head_cpus: int = 2
    head_resources: dict[str, float] = field(default_factory=lambda: {"head_node": 1})
    extra_env: dict[str, str] = field(default_factory=dict)
    gcs_port: int = 0  # 0: a free port
    dashboard_port: int = 0
    token: str = ""  # "": a fresh one
    temp_dir: Path = field(init=False)
    nodes: list[RayNode] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        # Short: Ray's socket paths under the temp dir must fit in 107 characters.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="cgray", dir="/tmp"))
        gcs, dashboard = free_ports(2)
        self.gcs_port = self.gcs_port or gcs
        self.dashboard_port = self.dashboard_port or dashboard
        self.token = self.token or secrets.token_hex(32)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every node and every client (`ray job submit`, `serve deploy`)."""
        # MLFLOW_TRACKING_URI reaches jobs and replicas through their runtime env, as on a real cluster.
        inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        return {**inherited, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token, **self.extra_env}

    def _node_ports(self) -> list[str]:
        client, agent, agent_grpc, env_agent, metrics, node_manager, object_manager = free_ports(7)
        return [f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
                f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={env_agent}",
                f"--metrics-export-port={metrics}", f"--node-manager-port={node_manager}",
                f"--object-manager-port={object_manager}",
                # Two raylets on one machine must not hand out the same worker ports (default 10002-19999).
                "--min-worker-port=0", "--max-worker-port=0"]

    def _start(self, name: str, arguments: list[str], resources: dict[str, float]) -> RayNode:
        with open(self.temp_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                ["ray", "start", "--block", "--node-ip-address=127.0.0.1", f"--temp-dir={self.temp_dir}",
                 "--disable-usage-stats", f"--resources={json.dumps(resources)}", *arguments, *self._node_ports()],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        node = RayNode(name, process, resources)
        self.nodes.append(node)
        return node

    def start_head(self, timeout: float = 180) -> RayNode:
        node = self._start("head", ["--head", f"--port={self.gcs_port}", f"--num-cpus={self.head_cpus}", "--num-gpus=0",
                                    "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                                    f"--dashboard-port={self.dashboard_port}"], self.head_resources)
        _wait(lambda: self._jobs_api_ready() and len(self.alive_node_ids()) == 1, node.process, "ray start --head",
              timeout)
        return node

    def add_worker(self, name: str, cpus: int = 2, gpus: int = 0, resources: dict[str, float] | None = None,
                   timeout: float = 120) -> RayNode:
        """A worker node; ``gpus`` only declares GPUs to the scheduler (Ray allows any count)."""
        known = set(self.alive_node_ids())  # a node killed moments ago may still be listed as alive
        node = self._start(name, [f"--address={self.address}", f"--num-cpus={cpus}", f"--num-gpus={gpus}"],
                           resources or {})
        expected = sum(n.process.poll() is None for n in self.nodes)
        # Wait for this node's own id, not a count: until GCS notices a killed node, the count is already met, and
        # a job submitted while this node is still starting can lose its working dir to the node's start-up.
        _wait(lambda: len(self.alive_node_ids()) >= expected and bool(set(self.alive_node_ids()) - known),
              node.process, f"ray start --address ({name})", timeout)
        return node

    def kill_node(self, name: str) -> int:
        """SIGKILL a node's processes (raylet, workers) with no clean shutdown, as when its machine dies.

        Returns how many nodes were alive before, for ``wait_until_declared_dead``.
        """
        node = next(n for n in self.nodes if n.name == name and n.process.poll() is None)
        alive = len(self.alive_node_ids())
        os.killpg(node.process.pid, signal.SIGKILL)  # the node's own process group: nobody else's processes
        node.process.wait()
        return alive

    def wait_until_declared_dead(self, alive_before: int, timeout: float = 120) -> None:
        """Until GCS has declared a killed node dead (missed heartbeats), Ray still places new actors there,
        and they die unstarted; a user rerunning after a crash would not see that window."""
        deadline = time.monotonic() + timeout
        while len(self.alive_node_ids()) >= alive_before and time.monotonic() < deadline:
            time.sleep(1)

    def api(self, path: str, timeout: float = 30) -> dict:
        """GET a dashboard REST path with this cluster's token (the State and Serve APIs)."""
        request = urllib.request.Request(self.dashboard + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def alive_node_ids(self) -> dict[str, dict[str, float]]:
        """Node id -> resources of every live node (State API)."""
        try:
            nodes = self.api("/api/v0/nodes?detail=true&limit=100")["data"]["result"]["result"]
        except (OSError, KeyError, ValueError):  # the dashboard is starting; the State API lags behind GCS
            return {}
        return {n["node_id"]: n["resources_total"] for n in nodes if n["state"] == "ALIVE"}

    def _jobs_api_ready(self) -> bool:
        if not reachable(self.dashboard_port):
            return False
        try:
            self.api("/api/jobs/", timeout=5)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        _stop(*(node.process for node in self.nodes))
        self.nodes.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalRayCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class TrackingServer:
    """``mlflow server`` on 127.0.0.1 with a sqlite backend and an artifact root, as docs/CLUSTER.md starts it."""

    root: Path
    port: int = 0  # 0: a free port
    process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "TrackingServer":
        return self.launch().wait_until_ready(timeout)

    def launch(self) -> "TrackingServer":
        """Start the server without waiting for it (it takes 5-25 s: start the Ray nodes meanwhile)."""
        self.port = self.port or free_ports(1)[0]
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "mlflow-server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                 "--artifacts-destination", str(self.root / "mlartifacts"), "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def wait_until_ready(self, timeout: float = 120) -> "TrackingServer":
        _wait(self._healthy, self.process, "mlflow server", timeout)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def main(argv: list[str] | None = None) -> int:
    """Start head + GPU-declaring worker + tracking server on the ports docs/CLUSTER.md uses; stop all on Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description="A two-node Ray cluster and an MLflow server on this machine.")
    parser.add_argument("--port", type=int, default=6379, help="the head's GCS port (0: any free port)")
    parser.add_argument("--dashboard-port", type=int, default=8265, help="jobs, Serve deploys, State API")
    parser.add_argument("--mlflow-port", type=int, default=5000, help="the tracking server")
    parser.add_argument("--worker-gpus", type=int, default=1, help="GPUs the worker declares (none need exist)")
    args = parser.parse_args(argv)
    # The token of this shell (`export RAY_AUTH_TOKEN=$(ray get-auth-token --generate)`), else a fresh one.
    cluster = LocalRayCluster(head_cpus=2, gcs_port=args.port, dashboard_port=args.dashboard_port,
                              token=os.environ.get("RAY_AUTH_TOKEN", ""))
    server = TrackingServer(cluster.temp_dir / "mlflow", port=args.mlflow_port)
    try:  # Ctrl-C during start-up raises KeyboardInterrupt: the finally below still stops what started
        server.launch()
        cluster.start_head()
        cluster.add_worker("worker", cpus=2, gpus=args.worker_gpus, resources={"worker_node": 1})
        server.wait_until_ready()
        print(f"head {cluster.address}, dashboard {cluster.dashboard}, MLflow {server.uri}; Ctrl-C stops all\n"
              f"export RAY_AUTH_MODE=token RAY_AUTH_TOKEN={cluster.token}", flush=True)
        # Blocked only now: children inherit the signal mask, and the nodes must still obey SIGTERM.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
