"""Ingress deployment: the FastAPI app of ``cgcap.serving.api``, backed by the other deployments' handles."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from ray import serve
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError
from ray.serve.handle import DeploymentHandle

from cgcap.config import Settings
from cgcap.models import ModelNotFoundError, known_models
from cgcap.serving.api import create_app
from cgcap.serving.errors import invalid, overloaded, unavailable
from cgcap.decoding.plan import classifier_specs
from cgcap.serving.options import CaptionOptions, request_guide
from cgcap.serving.schemas import CaptionResponse, DeploymentStats, HealthResponse, ModelsResponse

# A replica that died or is restarting: the client may retry (503), it is not their input's fault.
REPLICA_GONE = (ActorDiedError, ActorUnavailableError, RayActorError, BackPressureError, DeploymentUnavailableError)


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0.25})
@serve.ingress()
class Ingress:
    def __init__(self, settings: Settings, encoder: DeploymentHandle, classifier: DeploymentHandle,
                 decoder: DeploymentHandle):
        self.settings = settings
        self.encoder = encoder
        self.classifier = classifier
        self.decoder = decoder

    def __serve_build_asgi_app__(self):
        return create_app(self)

    async def check_models(self, options: CaptionOptions, media: Any) -> None:
        """Load the classifier this request's modality needs up front, so a missing model is a 422 before decoding."""
        guide = request_guide(options, media)
        if guide is None:  # λ1 = 0 for this modality: no classifier
            return
        model_id = guide.classifier
        try:
            await self.classifier.options(multiplexed_model_id=model_id).check.remote()
        except ModelNotFoundError as error:
            raise invalid(f"classifier {model_id!r} could not be loaded: {error.args[0] if error.args else error}",
                          field="options.classifier", code="classifier_not_found") from None
        except REPLICA_GONE as error:
            raise unavailable(f"the classifier replica was unavailable ({type(error).__name__}); retry") from None

    async def caption(self, media: Any, options: CaptionOptions, filename: str | None,
                      request_id: str) -> CaptionResponse:
        try:
            return await self.decoder.caption.remote(media, options, filename, request_id)
        except BackPressureError:
            raise overloaded("the decoder's queue is full; retry shortly", retry_after=1) from None
        except REPLICA_GONE as error:
            raise unavailable(f"a model replica was unavailable ({type(error).__name__}); retry the request",
                              retry_after=1) from None

    async def caption_events(self, media: Any, options: CaptionOptions, filename: str | None,
                             request_id: str) -> AsyncIterator[tuple[str, dict]]:
        try:
            async for event in self.decoder.options(stream=True).caption_stream.remote(
                    media, options, filename, request_id):
                yield event
        except BackPressureError:
            raise overloaded("the decoder's queue is full; retry shortly", retry_after=1) from None
        except REPLICA_GONE as error:
            raise unavailable(f"a model replica was unavailable ({type(error).__name__}); retry the request") from None

    async def _stats(self, name: str, handle: DeploymentHandle) -> DeploymentStats | str:
        try:
            return await asyncio.wait_for(handle.stats.remote(), timeout=10)
        except Exception as error:  # health reports a sick deployment; it does not fail itself
            return f"unavailable: {type(error).__name__}: {error}"[:300]

    async def health(self) -> HealthResponse:
        names = {"Encoder": self.encoder, "Classifier": self.classifier, "GuidedDecoder": self.decoder}
        answers = await asyncio.gather(*(self._stats(name, handle) for name, handle in names.items()))
        # /v1/health needs no API key: which classifiers other clients loaded is for /v1/models only.
        deployments = {name: a.model_copy(update={"loaded_classifiers": []}) if isinstance(a, DeploymentStats) else a
                       for name, a in zip(names, answers)}
        status = "ok" if all(isinstance(a, DeploymentStats) for a in answers) else "degraded"
        return HealthResponse(status=status, profile=self.settings.profile, deployments=deployments)

    async def models(self) -> ModelsResponse:
        stats = await self._stats("Classifier", self.classifier)
        loaded = stats.loaded_classifiers if isinstance(stats, DeploymentStats) else []
        named = sorted(name for name, entry in known_models().items() if entry.kind == "sequence-classifier")
        models = self.settings.models
        return ModelsResponse(language_model=models.language_model,
                              encoders={"audio": models.audio_encoder, "image": models.image_encoder},
                              default_classifier=models.classifier, classifiers=classifier_specs(models),
                              loaded_classifiers=loaded,
                              named_classifiers=named)
