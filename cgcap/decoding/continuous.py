"""Continuous batching: one decoding loop per service replica, which captions join and leave between tokens.

A request's thread reads and embeds its input, then hands its job to the loop
(``ContinuousBatcher.decode``) and waits. The loop's thread admits waiting jobs at the
next token boundary while the batch has rows to spare (each does its own prefix pass
and is padded to the running rows), runs one token for every job, and hands back the
jobs that finished or were cancelled. A job beyond the waiting line's limit is refused
at once (``Overloaded``), never left hanging.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future

import torch

from cgcap.decoding.decoder import CaptionJob, DecodeBatch
from cgcap.models import LoadedModel

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """More captions are waiting for this replica's loop than it lets wait."""


class ContinuousBatcher:
    def __init__(self, lm: LoadedModel, max_rows: int = 16, max_waiting: int = 16, threads: int | None = None):
        self.lm = lm
        # Torch threads for the loop: one loop runs every caption's passes, where unbatched requests each ran
        # in a thread of their own. The intra-op setting holds for the thread that makes it (OpenMP), so the
        # loop sets it in its own thread as it starts and the request threads keep theirs.
        self.threads = threads
        self.max_rows = max_rows  # rows (input x beam) decoded together; a larger job still runs, alone
        self.max_waiting = max_waiting  # jobs waiting to join; one more is refused
        self._batch = DecodeBatch(lm)
        self._waiting: deque[CaptionJob] = deque()
        self._futures: dict[CaptionJob, Future] = {}
        self._wake = threading.Condition()
        self._closed = False
        self.tokens = 0  # steps run (each one token for every job in the batch)
        self.rows_decoded = 0  # rows summed over steps: rows_decoded / tokens is the mean batch
        self.most_rows = 0
        self._thread = threading.Thread(target=self._run, name="cgcap-decode-loop", daemon=True)
        self._thread.start()

    def decode(self, jobs: list[CaptionJob]) -> list[CaptionJob]:
        """Decode ``jobs`` in the shared loop; blocks until each has its result or its error."""
        futures = [self.submit(job) for job in jobs]
        for future in futures:
            future.result()
        return jobs

    def submit(self, job: CaptionJob) -> Future:
        with self._wake:
            if self._closed:
                raise RuntimeError("the decoding loop has stopped")
            if len(self._waiting) >= self.max_waiting:
                raise Overloaded(f"{len(self._waiting)} captions are already waiting for this replica "
                                 f"(serve.max_waiting_captions = {self.max_waiting}); retry shortly")
            future: Future = Future()
            self._futures[job] = future
            self._waiting.append(job)
            self._wake.notify()
        return future

    def stats(self) -> dict[str, float]:
        with self._wake:
            return {"running": len(self._batch.jobs), "waiting": len(self._waiting), "rows": self._batch.rows,
                    "most_rows": self.most_rows, "tokens": self.tokens,
                    "mean_rows": self.rows_decoded / self.tokens if self.tokens else 0.0}

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _admit(self) -> list[CaptionJob]:
        """Waiting jobs that fit in the batch's spare rows, first come first served (at least one when idle)."""
        admitted, rows = [], sum(job.settings.beam_size for job in self._batch.jobs)
        with self._wake:
            while not self._closed and not self._waiting and not self._batch.jobs:
                self._wake.wait()
            while self._waiting:
                size = self._waiting[0].settings.beam_size
                if (rows or admitted) and rows + size > self.max_rows:
                    break
                admitted.append(self._waiting.popleft())
                rows += size
        return admitted

    def _run(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        while not self._closed:
            for job in self._admit():
                try:
                    self._batch.add(job)
                except Exception as error:  # noqa: BLE001 - this job's failure is its own caller's error
                    job.error = error
                    self._finish([job])
            if not self._batch.jobs:
                continue
            rows = self._batch.rows
            try:
                done = self._batch.step()
            except Exception as error:  # noqa: BLE001 - reported to every caller in the step, the loop goes on
                log.exception("a decoding step of %d captions failed", len(self._batch.jobs))
                done = self._batch.jobs
                for job in done:
                    job.error = error
                self._batch = DecodeBatch(self.lm)
            with self._wake:
                self.tokens += 1
                self.rows_decoded += rows
                self.most_rows = max(self.most_rows, rows)
            self._finish(done)
        for job in list(self._futures):
            job.error = RuntimeError("the decoding loop has stopped")
            self._finish([job])

    def _finish(self, jobs: list[CaptionJob]) -> None:
        for job in jobs:
            future = self._futures.pop(job, None)
            if future is not None:
                future.set_result(job)
