"""GuidedDecoder deployment: the frozen language model and the library's ``Captioner``.

Each request reads and embeds its input in a worker thread, then joins the replica's one
decoding loop (``ContinuousBatcher``, with ``serve.continuous_batching``) at the next token
boundary: concurrent requests share its language-model passes and, at every step, one
call to the Encoder and one to the Classifier deployment for all their candidates. A
request leaves the loop when it finishes or its client goes away (Serve cancels the
call; the loop drops it at the next token). Beyond ``serve.max_waiting_captions``
waiting captions a request is refused with a 503 and Retry-After, never left hanging.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator

from ray import serve
from ray.serve.exceptions import RequestCancelledError
from ray.serve.handle import DeploymentHandle

from cgcap.config import Settings, SettingsError
from cgcap.decoding.continuous import ContinuousBatcher, Overloaded
from cgcap.decoding.decoder import CaptionCancelled
from cgcap.serving.errors import cancelled, invalid, overloaded
from cgcap.serving.options import CaptionOptions, request_settings
from cgcap.serving.remote import BatchTally, remote_captioner
from cgcap.serving.schemas import CaptionResponse, DeploymentStats, TokenEvent
from deployments.common import replica_name


# Requests beyond max_ongoing_requests wait in Serve's queue, and beyond max_queued_requests get a 503 at once.
@serve.deployment(name="GuidedDecoder", max_ongoing_requests=16, max_queued_requests=32,
                  ray_actor_options={"num_cpus": 0.5})
class GuidedDecoder:
    def __init__(self, settings: Settings, encoder: DeploymentHandle, classifier: DeploymentHandle):
        from cgcap.models import load, resolve_device

        self.settings = settings
        self.lm = load(settings.models.language_model, task="causal-lm", device=resolve_device(settings.models.device))
        self.encoder = encoder
        self.classifier = classifier
        self.running = 0  # requests being captioned now
        self.cancelled = 0  # decodes stopped because their request was cancelled
        self.refused = 0  # requests refused because too many captions were waiting
        self._count = threading.Lock()
        serve_settings = settings.serve
        self.loop = (ContinuousBatcher(self.lm, serve_settings.max_batch_rows, serve_settings.max_waiting_captions,
                                       serve_settings.decoder_threads)
                     if serve_settings.continuous_batching else None)

    def _run(self, media: Any, options: CaptionOptions, filename: str | None, request_id: str,
             stop: threading.Event, on_token=None) -> CaptionResponse:
        with self._count:
            self.running += 1
        try:
            tally = BatchTally()
            captioner = remote_captioner(request_settings(self.settings, options), self.lm, self.encoder,
                                         self.classifier, tally, decode=self.loop.decode if self.loop else None)
            result = captioner.caption_media(media, filename, on_token=on_token, should_stop=stop.is_set)
            result.settings["request_options"] = options.overrides
            return CaptionResponse(**result.model_dump(), request_id=request_id, batching=tally.summary())
        except SettingsError as error:  # e.g. top_k larger than this LM's vocabulary: the request's fault
            raise invalid(str(error), field="options", code="invalid_option") from None
        except Overloaded as error:
            with self._count:
                self.refused += 1
            raise overloaded(str(error), retry_after=1) from None
        except (CaptionCancelled, RequestCancelledError):  # our stop, or Serve cancelling a scorer call first
            with self._count:
                self.cancelled += 1
            raise cancelled(f"request {request_id} was cancelled before its caption was finished") from None
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
            decodes = {"running": self.running, "cancelled": self.cancelled, "refused": self.refused}
        if self.loop is not None:  # the shared loop: rows now, most rows, tokens run and the mean batch (x100)
            loop = self.loop.stats()
            decodes.update({"loop_rows": int(loop["rows"]), "loop_waiting": int(loop["waiting"]),
                            "loop_most_rows": int(loop["most_rows"]), "loop_tokens": int(loop["tokens"]),
                            "loop_mean_rows_x100": round(100 * loop["mean_rows"])})
        return DeploymentStats(replica=replica_name(), model_ids={"language_model": self.lm.spec}, decodes=decodes)
