"""A real two-node Ray cluster on this machine: a CPU head (`head_node`) and a worker that declares
one GPU (`worker_node`), token authentication on, an `mlflow server` beside them.

The commands of docs/CLUSTER.md run against it as written: `serve deploy` places the replicas where the
config says, on both nodes, and captions come back over HTTP; `ray job submit` spreads the
evaluation's actor pool over both nodes, survives losing the worker mid-job, and its MLflow run
is read back from the tracking server after the job is gone. Tiny profile throughout.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
import yaml

from cgcap.evaluation.predictions import PredictionStore
from cluster.local import LocalRayCluster, TrackingServer, free_ports
from test_datasets import write_tone

pytestmark = pytest.mark.cluster  # a two-node Ray cluster and an MLflow server (cluster/local.py)

ROOT = Path(__file__).resolve().parents[1]
# 40 tokens a clip: slow enough that the second actor starts, and the worker dies, before the last clip.
TINY = ["--profile", "tiny", "--set", "evaluation.bertscore_encoder=null", "--set", "decoding.max_tokens=40"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalRayCluster(head_cpus=3) as ray_cluster:
        server = TrackingServer(tmp_path_factory.mktemp("tracking")).launch()  # starts while the nodes do
        try:
            ray_cluster.start_head()
            ray_cluster.add_worker("worker", cpus=3, gpus=1, resources={"worker_node": 1})
            server.wait_until_ready()
            yield ray_cluster, server
        finally:
            server.stop()


def node_ids(cluster: LocalRayCluster) -> dict[str, str]:
    """`head` / `worker` -> node id, told apart by the custom resource each node declares."""
    found = {}
    for node_id, resources in cluster.alive_node_ids().items():
        for role in ("head", "worker"):
            if f"{role}_node" in resources:
                found[role] = node_id
    return found


def ray_cli(cluster: LocalRayCluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def job_status(cluster: LocalRayCluster, job: str) -> str:
    return cluster.api(f"/api/jobs/{job}")["status"]


def wait_for(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def test_clients_without_the_token_are_refused(cluster):
    ray_cluster, _ = cluster
    no_token = {k: v for k, v in ray_cluster.env.items() if not k.startswith("RAY_AUTH")}
    refused = subprocess.run(["ray", "job", "list", "--address", ray_cluster.dashboard], env=no_token,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "authentication" in (refused.stdout + refused.stderr).lower()


def test_serve_deploy_places_replicas_on_both_nodes_as_the_config_says_and_captions_come_back(cluster, tmp_path):
    ray_cluster, server = cluster
    (port,) = free_ports(1)
    config = yaml.safe_load((ROOT / "deployments/serve_cluster.yaml").read_text())
    config["http_options"]["port"] = port
    app = config["applications"][0]
    app["args"] = {"profile": "tiny", "overrides": ["decoding.max_tokens=3"]}
    app["runtime_env"]["env_vars"]["MLFLOW_TRACKING_URI"] = server.uri
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(config))

    deployed = ray_cli(ray_cluster, "serve", "deploy", "--address", ray_cluster.dashboard, str(tmp_path / "serve.yaml"))
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    try:
        def running():
            details = ray_cluster.api("/api/serve/applications/")
            application = details.get("applications", {}).get("cgcap")
            assert application is None or application["status"] != "DEPLOY_FAILED", application
            return application if application and application["status"] == "RUNNING" else None

        application = wait_for(running, 240, "the Serve application to run", poll=2)
        placed = {name: {replica["node_id"] for replica in deployment["replicas"]}
                  for name, deployment in application["deployments"].items()}
        nodes = node_ids(ray_cluster)
        # Ingress asks for `head_node`; the model replicas ask for GPU shares, which only the worker has.
        assert placed == {"Ingress": {nodes["head"]}, "GuidedDecoder": {nodes["worker"]},
                          "Encoder": {nodes["worker"]}, "Classifier": {nodes["worker"]}}

        body = json.dumps({"content_base64": base64.b64encode(
            (ROOT / "cgcap/samples/bell.flac").read_bytes()).decode(), "options": {"max_tokens": 3}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/captions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            result = json.loads(response.read())
        assert response.status == 200 and result["modality"] == "audio"
        assert isinstance(result["caption"], str) and result["caption"].strip()
        assert result["model_ids"]["language_model"] == "tiny:gpt2"
    finally:
        ray_cli(ray_cluster, "serve", "shutdown", "--address", ray_cluster.dashboard, "-y")
        wait_for(lambda: not ray_cluster.api("/api/serve/applications/").get("applications"), 120,
                 "the Serve application to shut down", poll=2)


def evaluate_command(data: Path, output: Path) -> list[str]:
    return ["python", "jobs/evaluate.py", "--dataset", "folder", "--data-root", str(data), "--output", str(output),
            *TINY, "--set", "evaluation.actors=2", "--set", "evaluation.batch_size=1"]


def submit(cluster: LocalRayCluster, tracking_uri: str, command: list[str], wait: bool,
           excludes: list[str] | None = None, env_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command of docs/CLUSTER.md: the repository as working dir, the tracking server in the runtime env."""
    runtime_env = {"env_vars": {"MLFLOW_TRACKING_URI": tracking_uri, **(env_vars or {})}}
    if excludes:
        runtime_env["excludes"] = excludes
    runtime_env = json.dumps(runtime_env)
    return ray_cli(cluster, "ray", "job", "submit", "--address", cluster.dashboard, "--working-dir", ".",
                   "--runtime-env-json", runtime_env, *([] if wait else ["--no-wait"]), "--", *command, timeout=600)


def pool_nodes(cluster: LocalRayCluster) -> set[str]:
    """Nodes the State API has placed the evaluation's captioning actors on (alive or not)."""
    actors = cluster.api("/api/v0/actors?detail=true&limit=10000")["data"]["result"]["result"]
    return {a["node_id"] for a in actors if "CaptioningActor" in a["class_name"] and a.get("node_id")}


def test_an_evaluation_job_spans_both_nodes_loses_nothing_when_the_worker_dies_and_its_run_outlives_it(
        cluster, tmp_path):
    ray_cluster, server = cluster
    clips = 32
    for index in range(clips):
        write_tone(tmp_path / "clips" / f"tone{index}.wav", frequency=220.0 + 40 * index, seconds=0.5)
    output = tmp_path / "out"
    store = PredictionStore(output)
    command = evaluate_command(tmp_path / "clips", output)

    # Ray Data starts feeding a pool as soon as one actor is up. The worker's actor starts ~10 s after the
    # head's (it fetches the working dir first), and on a fast run the head's actor had captioned every clip
    # by then: the pool never reached the worker. Waiting for the whole pool makes it span both nodes.
    whole_pool = {"RAY_DATA_DEFAULT_WAIT_FOR_MIN_ACTORS_S": "300"}
    submitted = submit(ray_cluster, server.uri, command, wait=False, env_vars=whole_pool)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    job = next(w for w in submitted.stdout.split() if w.strip("'").startswith("raysubmit_")).strip("'")
    spanned: set[str] = set()

    def first_batch_from_a_pool_on_both_nodes():
        spanned.update(pool_nodes(ray_cluster))
        return (store.part_files() and len(spanned) == 2) or job_status(ray_cluster, job) in ("SUCCEEDED", "FAILED",
                                                                                           "STOPPED")

    wait_for(first_batch_from_a_pool_on_both_nodes, 240, "the first batch")
    nodes = node_ids(ray_cluster)
    if spanned != {nodes["head"], nodes["worker"]}:  # the actor pool runs on both nodes; if not, say why
        logs = ray_cli(ray_cluster, "ray", "job", "logs", "--address", ray_cluster.dashboard, job, timeout=60)
        pytest.fail(f"the actor pool ran on {len(spanned)} node(s), job {job_status(ray_cluster, job)}, "
                    f"{len(store.part_files())} part file(s); job log:\n{logs.stdout[-3000:]}")

    alive = ray_cluster.kill_node("worker")  # mid-job, without warning
    before = {part.name: part.read_bytes() for part in store.part_files()}
    assert 1 <= len(before) < clips, "the worker must die half-way for this test to mean anything"
    wait_for(lambda: job_status(ray_cluster, job) in ("SUCCEEDED", "FAILED", "STOPPED"), 300, "the first job to end")
    done_before = store.done_ids()
    parts_before = {part: part.read_bytes() for part in store.part_files()}

    ray_cluster.wait_until_declared_dead(alive)
    ray_cluster.add_worker("worker2", cpus=3, gpus=1, resources={"worker_node": 1})
    # The rerun uploads a working dir with other contents, so a package of its own: with the same one, Ray's
    # clean-up of the first job's copy could delete the folder the rerun's driver had just started in
    # (seen once in CI as a FileNotFoundError from os.getcwd() while torch imported).
    rerun = submit(ray_cluster, server.uri, command, wait=True, excludes=["benchmarks/"], env_vars=whole_pool)
    assert rerun.returncode == 0 and "succeeded" in rerun.stdout, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    rewritten = [part for part in store.part_files() if parts_before.get(part) != part.read_bytes()]
    recaptioned = {json.loads(line)["id"] for part in rewritten for line in part.read_text().splitlines()}
    assert recaptioned == {f"tone{i}.wav" for i in range(clips)} - done_before  # nothing captioned twice

    for name, content in before.items():  # parts written before the node died are untouched
        assert (store.folder / name).read_bytes() == content
    rows = [json.loads(line) for part in store.part_files() for line in part.read_text().splitlines()]
    captioned = sorted(row["id"] for row in rows if row["caption"] is not None)
    assert captioned == sorted(f"tone{i}.wav" for i in range(clips))  # every prediction, each exactly once

    # The record lives in the tracking server, not in the job's deleted working-dir copy.
    run_id = json.loads((output / "mlflow_run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(server.uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["items_captioned"] == clips
    logged = Path(client.download_artifacts(run_id, "predictions.jsonl", str(tmp_path)))
    assert sorted(json.loads(line)["id"] for line in logged.read_text().splitlines()) == captioned
    assert (server.root / "mlflow.db").is_file()


def test_a_submitted_job_with_a_relative_sqlite_store_is_refused_naming_the_fix(cluster, tmp_path):
    ray_cluster, _ = cluster
    write_tone(tmp_path / "clips" / "tone.wav")
    done = ray_cli(ray_cluster, "ray", "job", "submit", "--address", ray_cluster.dashboard, "--working-dir", ".", "--",
                   *evaluate_command(tmp_path / "clips", tmp_path / "out"))
    assert done.returncode != 0
    logs = done.stdout + done.stderr
    assert "'sqlite:///mlflow.db' is relative" in logs and "MLFLOW_TRACKING_URI" in logs and "--runtime-env-json" in logs
    assert not (tmp_path / "out" / "predictions").exists()  # refused before any captioning
