"""Classifier deployment: the text classifiers, chosen per request by Serve model multiplexing.

Each modality's classifier (``models.classifier`` for audio, ``models.image_classifier`` for
images) is one multiplexed id; a request may also name its own.

The multiplexed model id is a model-store spec, usually an MLflow model URI such as
``models:/audibility-classifier@champion``; Serve routes a request to a replica that
already holds that model and keeps the most recently used ones loaded.
"""

from __future__ import annotations

import asyncio

from ray import serve

from cgcap.config import Settings
from cgcap.serving.batching import run_merged
from cgcap.serving.remote import Batched, BatchSizeLog
from cgcap.serving.schemas import DeploymentStats
from deployments.common import configure_batching, replica_name

CLASSIFIERS_PER_REPLICA = 4  # fixed by @serve.multiplexed at class definition


@serve.deployment(name="Classifier", ray_actor_options={"num_cpus": 0.25})
class Classifier:
    def __init__(self, settings: Settings):
        import mlflow

        from cgcap.models import resolve_device
        from cgcap.tracking import tracking_uri

        mlflow.set_tracking_uri(tracking_uri(settings.tracking.tracking_uri))
        from cgcap.classifier import TextClassifier
        from cgcap.decoding.plan import classifiers_in_use

        self.default = settings.models.classifier
        self.device = resolve_device(settings.models.device)
        self.backend = {"backend": settings.models.text_backend, "int8": settings.models.text_int8}
        # Each modality's classifier loads while the replica starts: a first-time fine-tune
        # (minilm-l6-audibility) or download happens here, not inside the first request, and a
        # missing model fails the deployment with its name. A modality at λ1 = 0 loads none.
        self.in_use = classifiers_in_use(settings.decoding, settings.models)
        self.preloaded = {spec: TextClassifier.load(spec, self.device, **self.backend)
                          for spec in dict.fromkeys(self.in_use.values())}
        self.loaded: dict[str, None] = {}  # ids loaded on this replica, oldest first
        self.batch_sizes = BatchSizeLog()
        configure_batching(self.score, settings.serve)

    @serve.multiplexed(max_num_models_per_replica=CLASSIFIERS_PER_REPLICA)
    async def get_classifier(self, model_id: str):
        from cgcap.classifier import TextClassifier

        spec = model_id or self.default
        if spec in self.preloaded:
            classifier = self.preloaded[spec]
        else:
            classifier = await asyncio.to_thread(TextClassifier.load, spec, self.device, **self.backend)
        self.loaded.pop(model_id, None)
        self.loaded[model_id] = None
        return classifier

    async def check(self) -> str:
        """Load the request's classifier (a ModelNotFoundError names the problem); returns its spec."""
        return (await self.get_classifier(serve.get_multiplexed_model_id() or self.default)).spec

    # Serve splits a batch by multiplexed model id, so every call in one batch wants the same classifier.
    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def score(self, text_lists: list[list[str]]) -> list[Batched]:
        classifier = await self.get_classifier(serve.get_multiplexed_model_id() or self.default)
        self.batch_sizes.add("classifier", len(text_lists))
        return await asyncio.to_thread(run_merged, text_lists, classifier.score)

    def stats(self) -> DeploymentStats:
        return DeploymentStats(replica=replica_name(),
                               model_ids={"default_classifier": self.default,
                                          **{f"{rule}_classifier": spec for rule, spec in self.in_use.items()}},
                               batch_sizes=self.batch_sizes.as_dict(),
                               loaded_classifiers=list(self.loaded)[-CLASSIFIERS_PER_REPLICA:])
