"""Encoder deployment: the modality models (CLAP or a tagger for audio, CLIP or a tagger for images)."""

from __future__ import annotations

import asyncio

import torch
from ray import serve

from cgcap.config import Settings
from cgcap.serving.batching import run_merged_by_key
from cgcap.serving.remote import Batched, BatchSizeLog
from cgcap.serving.schemas import DeploymentStats
from deployments.common import configure_batching, replica_name


@serve.deployment(name="Encoder", ray_actor_options={"num_cpus": 0.25})
class Encoder:
    def __init__(self, settings: Settings):
        from cgcap.encoders import load_encoder
        from cgcap.models import resolve_device

        device = resolve_device(settings.models.device)
        backend = {"device": device, "text_backend": settings.models.text_backend, "int8": settings.models.text_int8}
        self.encoders = {"audio": load_encoder(settings.models.audio_encoder, **backend),
                         "image": load_encoder(settings.models.image_encoder, **backend)}
        self.batch_sizes = BatchSizeLog()
        configure_batching(self.embed_texts, settings.serve)

    async def describe_input(self, modality: str, media) -> tuple[torch.Tensor, list[str]]:
        """The input's embedding and the words that name it (a tagger's; none from CLAP or CLIP) in one
        call: the media crosses to this replica once, and a tagger classifies it once for both."""
        from cgcap.encoders.input_scoring import content_words

        def describe() -> tuple[torch.Tensor, list[str]]:
            encoder = self.encoders[modality]
            return encoder.embed_input(media), content_words(encoder, media)

        return await asyncio.to_thread(describe)

    # Limits come from settings.serve in __init__; these are only the starting values.
    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def embed_texts(self, modalities: list[str], text_lists: list[list[str]]) -> list[Batched]:
        self.batch_sizes.add("embed_texts", len(text_lists))
        return await asyncio.to_thread(
            run_merged_by_key, modalities, text_lists, lambda modality, texts: self.encoders[modality].embed_texts(texts))

    def stats(self) -> DeploymentStats:
        return DeploymentStats(replica=replica_name(),
                               model_ids={f"{m}_encoder": e.spec for m, e in self.encoders.items()},
                               batch_sizes=self.batch_sizes.as_dict())
