"""A replica whose decoding loop is full refuses the next caption at once: a 503 with Retry-After, never a hang.

Serve runs on the tiny profile with room for one caption in the loop (``serve.max_batch_rows=1``)
and one waiting (``serve.max_waiting_captions=1``), so a third concurrent request is over the limit.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from test_serve_http import API_KEY, API_KEY_ENV, LONG_DECODE, tiny_service, wav_bytes

pytestmark = pytest.mark.slow  # the Serve application on a local Ray

OVERRIDES = [f"serve.api_key_env={API_KEY_ENV}", "serve.max_batch_rows=1", "serve.max_waiting_captions=1"]
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def url():
    yield from tiny_service(API_KEY_ENV, API_KEY, OVERRIDES)


def loop_stats(url: str) -> dict:
    return requests.get(url + "/v1/health", headers=HEADERS, timeout=60).json()["deployments"]["GuidedDecoder"][
        "decodes"]


def wait_for(url: str, key: str, value: int) -> dict:
    deadline = time.monotonic() + 60
    while (stats := loop_stats(url))[key] != value:
        assert time.monotonic() < deadline, stats
        time.sleep(0.2)
    return stats


def long_stream(url: str) -> requests.Response:
    """A caption that only a stop can end, streamed so that closing the response cancels it."""
    response = requests.post(url + "/v1/captions?stream=true", headers=HEADERS,
                             files={"file": ("tone.wav", wav_bytes(), "audio/wav")},
                             data={"options": json.dumps(LONG_DECODE)}, stream=True, timeout=120)
    assert response.status_code == 200
    return response


def test_a_caption_beyond_the_waiting_line_is_a_503_with_retry_after_and_the_others_go_on(url):
    running = long_stream(url)
    lines = running.iter_lines()
    assert next(line for line in lines if line.startswith(b"event:")) == b"event: token"
    # The second caption waits for the loop's one row; its stream opens only once it runs, so it is
    # started in a thread.
    waiting: dict = {}
    thread = threading.Thread(target=lambda: waiting.setdefault("response", long_stream(url)), daemon=True)
    thread.start()
    wait_for(url, "loop_waiting", 1)

    started = time.monotonic()
    refused = requests.post(url + "/v1/captions", headers=HEADERS, files={"file": ("tone.wav", wav_bytes(),
                                                                                    "audio/wav")}, timeout=60)
    assert time.monotonic() - started < 30  # refused at once, not after the others finish
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "overloaded"
    assert "serve.max_waiting_captions" in error["message"]
    assert loop_stats(url)["refused"] == 1

    # The running caption is still writing: the refusal cost it nothing.
    assert next(line for line in lines if line.startswith(b"event:")) == b"event: token"
    running.close()  # its client leaves: the waiting caption takes the row
    thread.join(timeout=60)
    assert "response" in waiting
    waiting["response"].close()
    stats = wait_for(url, "running", 0)
    assert stats["cancelled"] == 2
    ok = requests.post(url + "/v1/captions", headers=HEADERS, files={"file": ("tone.wav", wav_bytes(), "audio/wav")},
                       timeout=120)
    assert ok.status_code == 200, ok.text
