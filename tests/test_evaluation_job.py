"""The evaluation job for real: `ray start --head`, `ray job submit jobs/evaluate.py` on the tiny
profile, the run read back from MLflow; and a job killed after its first batch, then resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from cgcap.data.datasets import read_dataset
from cgcap.evaluation.predictions import PredictionStore
from cgcap.metrics.coco import coco_caption_metrics
from cluster.local import LocalRayCluster
from test_datasets import make_clotho, write_tone

pytestmark = pytest.mark.cluster  # `ray start --head` and `ray job submit`

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on 127.0.0.1 with its own ports, temp dir and token; stopped by signalling its processes.

    Not `ray stop`: that stops every Ray on the machine, other people's included.
    """
    with LocalRayCluster(head_cpus=2, head_resources={}) as cluster:
        cluster.start_head()
        yield {"gcs": cluster.address, "dashboard": cluster.dashboard, "env": cluster.env}


def _submit_until_ready(ray_head, command: list[str], working_dir: Path) -> subprocess.CompletedProcess:
    """`ray job submit` (waits for the job); retried while the job agent is still starting."""
    for attempt in range(10):
        done = subprocess.run(
            ["ray", "job", "submit", "--address", ray_head["dashboard"], "--working-dir", str(working_dir), "--", *command],
            env=ray_head["env"], capture_output=True, text=True, timeout=600,
        )
        if done.returncode == 0 or "Connection refused" not in done.stderr + done.stdout:
            return done
        time.sleep(3)
    return done


def test_ray_job_submit_evaluates_clotho_and_records_one_complete_mlflow_run(ray_head, tmp_path, tracking_uri):
    make_clotho(tmp_path / "clotho", files=2, missing=1, corrupt=1)
    working_dir = tmp_path / "job"
    shutil.copytree(ROOT / "jobs", working_dir / "jobs")  # the real entrypoint, without uploading the whole tree
    output = tmp_path / "out"
    done = _submit_until_ready(ray_head, [
        "python", "jobs/evaluate.py", "--dataset", "clotho", "--data-root", str(tmp_path / "clotho"),
        "--split", "evaluation", "--output", str(output), "--tracking-uri", tracking_uri, "--profile", "tiny",
        "--set", "models.judge_classifier=tiny:bert-classifier@1", "--run-name", "clotho-tiny",
    ], working_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout

    client = mlflow.MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("cgcap").experiment_id])
    assert run.info.run_name == "clotho-tiny" and run.info.status == "FINISHED"
    params, metrics = run.data.params, run.data.metrics
    assert params["models.language_model"] == "tiny:gpt2" and params["decoding.top_k"] == "16"
    assert params["models.judge_classifier"] == "tiny:bert-classifier@1"
    assert params["model_id.audio_encoder"] == "tiny:clap"
    assert params["data.dataset"] == "clotho" and params["data.items"] == "4"
    assert (metrics["items_captioned"], metrics["items_missing"], metrics["items_unreadable"]) == (2, 1, 1)
    for name in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "BERTScore-F1", "CLAP-S", "audibility_accuracy"):
        assert name in metrics, name
    assert "SPICE" not in metrics and "CoreNLP" in run.data.tags["unavailable.SPICE"]
    assert -1.0 <= metrics["CLAP-S"] <= 1.0 and metrics["audibility_accuracy"] in (0.0, 0.5, 1.0)

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"predictions.jsonl", "per_item_scores.csv", "metrics.json", "per_item_scores.png"} <= artifacts
    logged = Path(client.download_artifacts(run.info.run_id, "predictions.jsonl", str(tmp_path)))
    rows = [json.loads(line) for line in logged.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["clip 00.wav", "clip 01.wav", "clip 02.wav", "clip 03.wav"]
    assert rows[2]["error"].startswith("missing media file") and rows[3]["error"].startswith("unreadable media")
    # The logged CIDEr-D is pycocoevalcap's on exactly the logged predictions.
    manifest = read_dataset("clotho", tmp_path / "clotho", "evaluation")
    captions = {r["id"]: r["caption"] for r in rows if r["caption"] is not None}
    again = coco_caption_metrics(captions, {i.id: i.references for i in manifest.items})
    assert metrics["CIDEr-D"] == pytest.approx(again.corpus["CIDEr-D"])


def test_a_job_killed_after_its_first_batch_resumes_without_losing_or_repeating_items(ray_head, tmp_path,
                                                                                    tracking_uri):
    clips = 8
    for index in range(clips):
        write_tone(tmp_path / "clips" / f"tone{index}.wav", frequency=200.0 + 50 * index, seconds=0.5)
    output = tmp_path / "out"
    command = [sys.executable, str(ROOT / "jobs/evaluate.py"), "--dataset", "folder", "--data-root",
               str(tmp_path / "clips"), "--output", str(output), "--tracking-uri", tracking_uri, "--profile", "tiny",
               "--set", "evaluation.batch_size=1", "--set", "decoding.max_tokens=40",
               "--set", "evaluation.bertscore_encoder=null"]
    env = {**ray_head["env"], "RAY_ADDRESS": ray_head["gcs"]}  # join the head: no Ray start-up per run
    store = PredictionStore(output)

    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while not store.part_files():
        assert first.poll() is None, "the job ended before writing any batch"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # no clean shutdown: as if the node died
    first.wait()
    before = {part.name: part.read_bytes() for part in store.part_files()}
    done_before = store.done_ids()
    assert 1 <= len(done_before) < clips, "the kill must land half-way for this test to mean anything"

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stdout.splitlines()
    # First the captions it resumed, then the ones it made: nothing done twice.
    assert lines[0] == f"resumed {len(done_before)} caption(s) already in {output}:"
    resumed = {line.split("\t")[0] for line in lines[1:1 + len(done_before)]}
    recaptioned = {line.split("\t")[0] for line in lines[1 + len(done_before):] if line.startswith("tone")}
    assert resumed == done_before
    assert recaptioned == {f"tone{i}.wav" for i in range(clips)} - done_before

    for name, content in before.items():  # nothing lost: parts written before the kill are untouched
        assert (store.folder / name).read_bytes() == content
    ids = [json.loads(line)["id"] for part in store.part_files() for line in part.read_text().splitlines()]
    assert sorted(ids) == sorted(f"tone{i}.wav" for i in range(clips))  # each exactly once
    run_id = json.loads((output / "mlflow_run.json").read_text())["run_id"]
    assert mlflow.MlflowClient(tracking_uri).get_run(run_id).data.metrics["items_captioned"] == clips


def test_a_sweep_logs_one_child_run_per_value_under_a_parent_with_the_metric_plot(ray_head, tmp_path, tracking_uri):
    for index in range(2):
        write_tone(tmp_path / "clips" / f"tone{index}.wav", frequency=300.0 + 100 * index, seconds=0.5)
    output = tmp_path / "sweep"
    done = subprocess.run(
        [sys.executable, str(ROOT / "jobs/evaluate.py"), "--dataset", "folder", "--data-root", str(tmp_path / "clips"),
         "--output", str(output), "--tracking-uri", tracking_uri, "--profile", "tiny", "--quiet",
         "--set", "models.judge_classifier=tiny:bert-classifier@1", "--set", "evaluation.bertscore_encoder=null",
         "--sweep", "decoding.lambda_cls=0,0.6"],
        env={**ray_head["env"], "RAY_ADDRESS": ray_head["gcs"]}, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = mlflow.MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("cgcap").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("cgcap.kind") == "sweep"]
    children = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                      key=lambda r: float(r.data.params["decoding.lambda_cls"]))
    assert [c.data.params["decoding.lambda_cls"] for c in children] == ["0.0", "0.6"]
    assert all({"CLAP-S", "audibility_accuracy"} <= set(c.data.metrics) for c in children)
    assert parent.data.params["sweep.key"] == "decoding.lambda_cls" and parent.data.params["sweep.values"] == "0,0.6"
    assert {"sweep.png", "sweep.json"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    table = json.loads((output / "sweep.json").read_text())
    assert [row["run_id"] for row in table] == [c.info.run_id for c in children]
