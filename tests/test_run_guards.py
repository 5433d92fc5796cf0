"""Guards around a run: one evaluation per output folder, a shared sqlite MLflow store, and Ray addresses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import mlflow
import pytest

from cgcap.cli import main as cgcap
from test_datasets import make_clotho

pytestmark = pytest.mark.slow  # evaluations and local Rays, several in subprocesses

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def evaluate(argv: list[str]) -> int:
    """``cgcap evaluate ARGV``, what ``jobs/evaluate.py ARGV`` runs."""
    return cgcap(["evaluate", *argv])


def python(code: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **options)


def dead_address() -> str:
    """host:port where nothing listens (a head that died)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_a_second_evaluation_into_a_busy_output_folder_is_refused_and_a_crashed_one_leaves_no_lock(
        tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=0, missing=1)
    output = tmp_path / "out"
    args = ["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
            "--output", str(output), "--profile", "tiny", "--quiet"]
    holder = python(f"""
        import time
        from cgcap.evaluation.lock import OutputFolderLock
        with OutputFolderLock({str(output)!r}):
            print("locked", flush=True)
            time.sleep(600)
    """, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"

        assert evaluate(args) == 2
        message = capsys.readouterr().err
        assert f"output folder {output} is in use by another evaluation (pid {holder.pid} on" in message
        assert not (output / "predictions").exists()  # refused before writing anything
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: no unlock, no clean-up
        holder.wait(timeout=30)

    assert evaluate(args) == 0


def test_two_processes_setting_up_and_writing_one_sqlite_store_at_once_both_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    barrier = tmp_path / "go"
    # Each imports everything first, then waits for the same moment to touch the new store:
    # the first contact creates and migrates it, which is where two processes used to collide.
    code = f"""
        import sys, time
        from pathlib import Path
        import mlflow
        from cgcap import tracking
        Path({str(barrier)!r} + "." + sys.argv[1]).touch()  # imported, ready
        while not Path({str(barrier)!r}).exists():
            time.sleep(0.01)
        tracking.configure({uri!r}, "cgcap")
        with mlflow.start_run(run_name=sys.argv[1]):
            for step in range(20):
                mlflow.log_param(f"p{{step}}", step)
                mlflow.log_metric("loss", 1 / (step + 1), step=step)
        print("done", flush=True)
    """
    workers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), name], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
               for name in ("training", "evaluation")]
    while not all(Path(f"{barrier}.{name}").exists() for name in ("training", "evaluation")):
        assert all(worker.poll() is None for worker in workers), [w.communicate()[0] for w in workers]
        time.sleep(0.05)
    barrier.touch()  # both wait at the barrier: release them together
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    runs = mlflow.MlflowClient(uri).search_runs([mlflow.MlflowClient(uri).get_experiment_by_name("cgcap").experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["evaluation", "training"]
    assert all(len(run.data.params) == 20 for run in runs)


def test_a_named_cluster_that_does_not_answer_fails_within_seconds_naming_its_address(
        tmp_path, tracking_uri, monkeypatch, capsys):
    make_clotho(tmp_path / "clotho", files=1)
    address = dead_address()
    started = time.monotonic()
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert evaluate(["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
                     "--output", str(tmp_path / "out"), "--profile", "tiny", "--quiet"]) == 2
    monkeypatch.delenv("RAY_ADDRESS")
    other = dead_address()
    assert cgcap(["serve", "--profile", "tiny", "--address", other]) == 2
    elapsed = time.monotonic() - started

    errors = capsys.readouterr().err
    assert f"the Ray cluster at {address} does not answer (Connection refused)" in errors
    assert f"the Ray cluster at {other} does not answer" in errors
    assert elapsed < 60, elapsed  # a generous bound on a loaded machine; it used to wait for minutes


def test_a_stale_cluster_record_does_not_hang_a_local_run():
    # A head that died without `ray stop` leaves its address in ray_current_cluster; Ray looks
    # for that record under $RAY_TMPDIR/ray, so a private one holds the stale record here.
    # A short path: Ray's socket paths under it must stay below the 107-byte limit.
    temp = tempfile.mkdtemp(prefix="cgr", dir="/tmp")
    record = Path(temp) / "ray" / "ray_current_cluster"
    record.parent.mkdir()
    stale = dead_address()
    record.write_text(stale)
    # RAY_AUTH_MODE unset, as in a newcomer's shell: Ray then turns token auth on by itself.
    env = {key: value for key, value in ENV.items() if key not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    run = python("""
        import os
        import ray
        from cgcap.ray_connection import init_ray
        init_ray(local={"num_cpus": 1, "include_dashboard": False})
        print("joined", ray.get_runtime_context().gcs_address, flush=True)
        print("auth", os.environ.get("RAY_AUTH_MODE"), flush=True)
        ray.shutdown()
    """, env={**env, "RAY_TMPDIR": temp}, start_new_session=True)
    try:
        output = run.communicate(timeout=180)[0]
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        pytest.fail(f"a local run waited on the stale record {stale}")
    finally:
        subprocess.run(["rm", "-rf", temp], check=False)
    joined = [line for line in output.splitlines() if line.startswith("joined ")]
    assert run.returncode == 0 and joined, output
    assert joined[0].split()[1] != stale
    # The local Ray keeps token authentication on, without warning a newcomer about it on every run.
    assert "auth token" in output.splitlines(), output
    assert "Token authentication is enabled" not in output, output
