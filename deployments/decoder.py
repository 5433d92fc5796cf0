"""GuidedDecoder deployment: the frozen language model and the library's ``Captioner``.

Each request's loop runs in a worker thread and calls the Encoder and Classifier
deployments through their handles at every step (``remote_captioner``), so the replica's
event loop stays free to start other requests, whose scorer calls then share batches.
A request whose client goes away is cancelled by Serve; its loop stops at the next token.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator

from ray import serve
from ray.serve.exceptions import RequestCancelledError
from ray.serve.handle import DeploymentHandle

from cgcap.config import Settings, SettingsError
from cgcap.decoding.decoder import CaptionCancelled
from cgcap.serving.errors import invalid
from cgcap.serving.options import CaptionOptions, request_settings
from cgcap.serving.remote import BatchTally, remote_captioner
from cgcap.serving.schemas import CaptionResponse, DeploymentStats, TokenEvent
from deployments.common import replica_name


@serve.deployment(name="GuidedDecoder", max_ongoing_requests=8, ray_actor_options={"num_cpus": 0.5})
class GuidedDecoder:
    def __init__(self, settings: Settings, encoder: DeploymentHandle, classifier: DeploymentHandle):
        from cgcap.models import load, resolve_device

        self.settings = settings
        self.lm = load(settings.models.language_model, task="causal-lm", device=resolve_device(settings.models.device))
        self.encoder = encoder
        self.classifier = classifier
        self.running = 0  # decode threads alive now
        self.cancelled = 0  # decodes stopped because their request was cancelled
        self._count = threading.Lock()

    def _run(self, media: Any, options: CaptionOptions, filename: str | None, request_id: str,
             stop: threading.Event, on_token=None) -> CaptionResponse | None:
        with self._count:
            self.running += 1
        try:
            tally = BatchTally()
            captioner = remote_captioner(request_settings(self.settings, options), self.lm, self.encoder,
                                         self.classifier, tally)
            result = captioner.caption_media(media, filename, on_token=on_token, should_stop=stop.is_set)
            result.settings["request_options"] = options.overrides
            return CaptionResponse(**result.model_dump(), request_id=request_id, batching=tally.summary())
        except SettingsError as error:  # e.g. top_k larger than this LM's vocabulary: the request's fault
            raise invalid(str(error), field="options", code="invalid_option") from None
        except (CaptionCancelled, RequestCancelledError):  # our stop, or Serve cancelling a scorer call first
            with self._count:
                self.cancelled += 1
            return None
        finally:
            with self._count:
                self.running -= 1

    async def caption(self, media: Any, options: CaptionOptions, filename: str | None,
                      request_id: str) -> CaptionResponse:
        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._run, media, options, filename, request_id, stop)
        finally:
            stop.set()  # when Serve cancels this call (client gone), the thread stops at its next token

    async def caption_stream(self, media: Any, options: CaptionOptions, filename: str | None,
                             request_id: str) -> AsyncIterator[tuple[str, dict]]:
        """Yields ("token", TokenEvent) as the loop writes, then ("result", CaptionResponse)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def on_token(step: int, texts: list[str]) -> None:
            event = TokenEvent(step=step, text=texts[0], beams=list(texts)).model_dump()
            loop.call_soon_threadsafe(events.put_nowait, ("token", event))

        job = asyncio.ensure_future(asyncio.to_thread(self._run, media, options, filename, request_id, stop, on_token))
        try:
            while not (job.done() and events.empty()):
                getter = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
            yield ("result", job.result().model_dump(mode="json"))
        finally:
            stop.set()  # cancelled or closed early: the loop stops at its next token

    def stats(self) -> DeploymentStats:
        with self._count:
            decodes = {"running": self.running, "cancelled": self.cancelled}
        return DeploymentStats(replica=replica_name(), model_ids={"language_model": self.lm.spec}, decodes=decodes)
