"""GuidedDecoder deployment: the frozen language model and the cache-optimisation loop.

Each request's loop runs in a worker thread and calls the Encoder and Classifier
deployments through their handles at every step, so the replica's event loop stays free
to start other requests, whose scorer calls then share batches.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from ray import serve
from ray.serve.handle import DeploymentHandle

from cgcap.config import Settings, SettingsError
from cgcap.serving.errors import invalid
from cgcap.serving.captioning import caption_with_remote_scorers
from cgcap.serving.options import CaptionOptions
from cgcap.serving.schemas import CaptionResponse, DeploymentStats, TokenEvent
from deployments.common import replica_name


@serve.deployment(name="GuidedDecoder", max_ongoing_requests=8, ray_actor_options={"num_cpus": 0.5})
class GuidedDecoder:
    def __init__(self, settings: Settings, encoder: DeploymentHandle, classifier: DeploymentHandle):
        from cgcap.models import load, resolve_device

        self.lm = load(settings.models.language_model, task="causal-lm", device=resolve_device(settings.models.device))
        self.encoder = encoder
        self.classifier = classifier
        self.encoder_specs = {"audio": settings.models.audio_encoder, "image": settings.models.image_encoder}

    def _run(self, media: Any, options: CaptionOptions, filename: str | None, request_id: str, on_token=None):
        try:
            return caption_with_remote_scorers(self.lm, media, options, self.encoder, self.encoder_specs,
                                               self.classifier, request_id, filename, on_token)
        except SettingsError as error:  # e.g. top_k larger than this LM's vocabulary: the request's fault
            raise invalid(str(error), field="options", code="invalid_option") from None

    async def caption(self, media: Any, options: CaptionOptions, filename: str | None,
                      request_id: str) -> CaptionResponse:
        return await asyncio.to_thread(self._run, media, options, filename, request_id)

    async def caption_stream(self, media: Any, options: CaptionOptions, filename: str | None,
                             request_id: str) -> AsyncIterator[tuple[str, dict]]:
        """Yields ("token", TokenEvent) as the loop writes, then ("result", CaptionResponse)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def on_token(step: int, texts: list[str]) -> None:
            event = TokenEvent(step=step, text=texts[0], beams=list(texts)).model_dump()
            loop.call_soon_threadsafe(events.put_nowait, ("token", event))

        job = asyncio.ensure_future(asyncio.to_thread(self._run, media, options, filename, request_id, on_token))
        while not (job.done() and events.empty()):
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
            else:
                getter.cancel()
        yield ("result", job.result().model_dump(mode="json"))

    def stats(self) -> DeploymentStats:
        return DeploymentStats(replica=replica_name(), model_ids={"language_model": self.lm.spec})
