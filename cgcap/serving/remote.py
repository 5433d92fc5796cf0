"""Scorers that run in other Serve replicas, behind the decoder's ``CandidateScorer`` seam.

The guided decoder's loop is synchronous torch code running in a worker thread of the
decoder replica, so these block on ``handle.method.remote(...).result()``; that is
allowed off the replica's event loop. Handles are duck-typed: nothing here imports Serve.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

from cgcap.serving.schemas import BatchingSeen


@dataclass
class Batched:
    """A batched deployment method's answer to one call, with the size of the pass it shared."""

    value: torch.Tensor
    batch_size: int  # calls merged into that forward pass (1 = ran alone)


class BatchTally:
    """Batch sizes one request's remote calls saw, reported back in its response: for a call this request made,
    the calls ``@serve.batch`` merged into its pass; for a call the decoder's shared loop made for several
    requests at once, the requests that shared it."""

    def __init__(self) -> None:
        self._sizes: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def record(self, method: str, batched: Batched) -> torch.Tensor:
        with self._lock:
            self._sizes.setdefault(method, []).append(batched.batch_size)
        return batched.value

    def summary(self) -> dict[str, BatchingSeen]:
        with self._lock:
            return {method: BatchingSeen(calls=len(sizes), max_batch=max(sizes), mean_batch=sum(sizes) / len(sizes))
                    for method, sizes in self._sizes.items() if sizes}


class RemoteEncoder:
    """A ``ModalityEncoder`` whose model lives in the Encoder deployment."""

    def __init__(self, handle: Any, modality: str, spec: str, tally: BatchTally):
        self.handle = handle
        self.modality = modality
        self.spec = spec
        self.tally = tally
        self._described: tuple[Any, tuple[torch.Tensor, list[str]]] | None = None  # (media, its answer)

    def embed_input(self, media: Any) -> torch.Tensor:
        return self._describe(media)[0]

    def content_words(self, media: Any) -> list[str]:
        return list(self._describe(media)[1])

    def _describe(self, media: Any) -> tuple[torch.Tensor, list[str]]:
        """One remote call per input for both questions (the decoder asks them one after the other)."""
        if self._described is None or self._described[0] is not media:
            self._described = (media, self.handle.describe_input.remote(self.modality, media).result())
        return self._described[1]

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return self.begin_embed_texts(texts)()

    def begin_embed_texts(self, texts: list[str]):
        """The call sent; returns what waits for its answer (the decoder's step sends the Classifier its call
        meanwhile, so the two deployments work at once)."""
        response = self.handle.embed_texts.remote(self.modality, list(texts))
        return lambda: self.tally.record("embed_texts", response.result())

    def shared_key(self):
        """Requests decoded in one loop send their candidates to the same deployment method in one call."""
        return ("remote-encoder", id(self.handle), self.modality)

    def joined_call(self, requests: int) -> None:
        self.tally.record("embed_texts", Batched(torch.zeros(0), requests))


class RemoteClassifier:
    """A ``CandidateScorer`` over the Classifier deployment; the model is picked by Serve multiplexing."""

    def __init__(self, handle: Any, model_id: str, tally: BatchTally):
        # Requests for one model id go to replicas that already hold it (Serve model multiplexing).
        self.base = handle
        self.handle = handle.options(multiplexed_model_id=model_id)
        self.spec = model_id
        self.tally = tally

    def score(self, texts: list[str]) -> torch.Tensor:
        return self.begin_pass(texts)()

    def begin_pass(self, texts: list[str]):
        """The call sent; returns what waits for its answer (see ``RemoteEncoder.begin_embed_texts``)."""
        response = self.handle.score.remote(list(texts))
        return lambda: self.tally.record("classifier", response.result())

    def shared_key(self):
        return ("remote-classifier", id(self.base), self.spec)

    def joined_call(self, requests: int) -> None:
        self.tally.record("classifier", Batched(torch.zeros(0), requests))


def remote_captioner(settings: Any, lm: Any, encoder_handle: Any, classifier_handle: Any, tally: BatchTally,
                     decode: Any = None) -> Any:
    """The library's ``Captioner`` for one request's settings, with the Encoder and Classifier deployments as scorers
    (``decode``: the replica's shared decoding loop, when it batches requests continuously)."""
    from cgcap.captioner import Captioner

    models = settings.models
    encoders = {"audio": RemoteEncoder(encoder_handle, "audio", models.audio_encoder, tally),
                "image": RemoteEncoder(encoder_handle, "image", models.image_encoder, tally)}
    # Each modality's classifier is a multiplexed model id of the one Classifier deployment.
    return Captioner(settings, lm, encoders=encoders,
                     classifier_loader=lambda spec: RemoteClassifier(classifier_handle, spec, tally), decode=decode)


class BatchSizeLog:
    """Per-replica histogram of batch sizes, exposed through /v1/health."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {}

    def add(self, method: str, size: int) -> None:
        self.counts.setdefault(method, Counter())[size] += 1

    def as_dict(self) -> dict[str, dict[int, int]]:
        return {method: dict(sorted(counter.items())) for method, counter in self.counts.items()}

