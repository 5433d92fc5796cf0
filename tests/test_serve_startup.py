"""``cgcap serve`` stopped while it starts: a clean exit, no traceback, no Ray stack dump."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts `cgcap serve` (Ray and Serve) in a subprocess

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_then_signal(moment: str, signal_number: int) -> tuple[str, int, float]:
    """Start ``cgcap serve`` on the tiny profile, send ``signal_number`` once a line contains ``moment``;
    (everything it printed, its exit code, seconds from the signal to its exit)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "cgcap.cli", "serve", "--profile", "tiny", "--port", str(free_port())],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines = []
    try:
        for line in server.stdout:
            lines.append(line)
            if moment in line:
                server.send_signal(signal_number)
                break
        stopping = time.monotonic()
        lines += server.communicate(timeout=120)[0].splitlines(keepends=True)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    return "".join(lines), server.returncode, time.monotonic() - stopping


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_serve_while_it_deploys_exits_cleanly(signal_number):
    moment = "Started Serve"  # Ray is up, and serve.run deploys the app (models load in the replicas)
    output, returncode, stopping_seconds = serve_then_signal(moment, signal_number)

    assert moment in output, output
    assert returncode == 0, output
    assert "stopping during start-up" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "SIGTERM received" not in output and "*** " not in output
    assert stopping_seconds < 120


def test_a_fresh_serve_says_nothing_of_an_existing_app_and_a_stop_after_start_reports_no_failure():
    output, returncode, _ = serve_then_signal("serving on", signal.SIGINT)

    assert "serving on" in output and returncode == 0, output
    assert "Connecting to existing Serve app" not in output  # there was none: this run started it
    assert "graceful_shutdown failed" not in output and "Traceback" not in output, output
