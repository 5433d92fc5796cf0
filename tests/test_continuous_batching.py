"""The service's decoding loop: captions join between tokens, leave when done, and the overflow is refused."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cgcap.config import DecodingSettings
from cgcap.decoding import GuidedDecoder
from cgcap.decoding.continuous import ContinuousBatcher, Overloaded
from cgcap.decoding.decoder import CaptionCancelled
from cgcap.models import load
from decoding_scorers import LetterShareScorer

SETTINGS = DecodingSettings(top_k=16, num_iterations=2, max_tokens=6, lambda_cls=0.0, end_factor=1.0)
LETTERS = ["aeiou", "xyz", "st", "mnr", "bdk", "lp"]


@pytest.fixture(scope="module")
def tiny_llama():
    return load("tiny:llama")


def tokens_of(result) -> list[list[int]]:
    return [beam.tokens for beam in result.beams]


class GatedScorer(LetterShareScorer):
    """Scores like LetterShareScorer once ``gate`` is open: holds the loop mid-step while the test queues jobs."""

    def __init__(self, letters: str, gate: threading.Event):
        super().__init__(letters)
        self.gate = gate

    def score(self, texts):
        self.gate.wait(timeout=60)
        return super().score(texts)


def test_concurrent_captions_share_the_loop_and_write_what_they_write_alone(tiny_llama):
    settings = [SETTINGS.model_copy(update={"beam_size": 1 + i % 2, "prompt": ["Audio of a", "Image of the"][i % 2]})
                for i in range(len(LETTERS))]
    alone = [GuidedDecoder(tiny_llama, s).caption(LetterShareScorer(letters), None)
             for s, letters in zip(settings, LETTERS)]
    loop = ContinuousBatcher(tiny_llama, max_rows=16, max_waiting=16)
    try:
        def one(i):
            time.sleep(0.01 * i)  # arrivals spread out: later ones join a loop already writing
            job = GuidedDecoder(tiny_llama, settings[i]).job(LetterShareScorer(LETTERS[i]), None)
            return loop.decode([job])[0]

        with ThreadPoolExecutor(len(LETTERS)) as pool:
            jobs = list(pool.map(one, range(len(LETTERS))))
        assert [tokens_of(job.result) for job in jobs] == [tokens_of(result) for result in alone]
        stats = loop.stats()
        assert stats["most_rows"] > 2 and stats["running"] == 0 and stats["rows"] == 0
        assert stats["tokens"] < sum(job.step for job in jobs)  # fewer steps than one caption after another
    finally:
        loop.close()


def test_a_full_waiting_line_refuses_at_once_and_the_rest_finish(tiny_llama):
    gate = threading.Event()
    loop = ContinuousBatcher(tiny_llama, max_rows=1, max_waiting=1)
    try:
        running = loop.submit(GuidedDecoder(tiny_llama, SETTINGS).job(GatedScorer("aeiou", gate), None))
        deadline = time.monotonic() + 30
        while loop.stats()["running"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        waiting = loop.submit(GuidedDecoder(tiny_llama, SETTINGS).job(LetterShareScorer("xyz"), None))
        started = time.monotonic()
        with pytest.raises(Overloaded, match="already waiting"):
            loop.submit(GuidedDecoder(tiny_llama, SETTINGS).job(LetterShareScorer("st"), None))
        assert time.monotonic() - started < 1  # refused, not left hanging
        gate.set()
        assert running.result(timeout=60).result is not None and waiting.result(timeout=60).result is not None
    finally:
        gate.set()
        loop.close()


def test_a_caption_whose_client_left_stops_at_the_next_token(tiny_llama):
    loop = ContinuousBatcher(tiny_llama)
    try:
        gone = threading.Event()
        seen = []

        def on_token(step, texts):
            seen.append(step)
            gone.set()  # the client leaves after the first token

        job = GuidedDecoder(tiny_llama, SETTINGS).job(LetterShareScorer("aeiou"), None, on_token=on_token,
                                                      should_stop=gone.is_set)
        other = GuidedDecoder(tiny_llama, SETTINGS).job(LetterShareScorer("xyz"), None)
        loop.decode([job, other])
        assert isinstance(job.error, CaptionCancelled) and seen == [0]
        assert other.result is not None and other.result.timings["tokens"] == SETTINGS.max_tokens
    finally:
        loop.close()


def test_the_loop_runs_on_its_own_torch_threads(tiny_llama):
    # A 0.5-CPU Serve replica gets one torch thread from Ray; the loop, which runs every caption's passes,
    # takes serve.decoder_threads in its own thread when it starts. The caller's threads are left alone.
    import torch

    class ThreadsSeen(LetterShareScorer):
        seen: list[int] = []

        def score(self, texts):
            self.seen.append(torch.get_num_threads())  # called from the loop's thread, mid-step
            return super().score(texts)

    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2
    loop = ContinuousBatcher(tiny_llama, threads=wanted)
    try:
        job = GuidedDecoder(tiny_llama, SETTINGS).job(ThreadsSeen("aeiou"), None)
        assert loop.decode([job])[0].result is not None
        assert ThreadsSeen.seen and set(ThreadsSeen.seen) == {wanted}
        assert torch.get_num_threads() == before
    finally:
        loop.close()
