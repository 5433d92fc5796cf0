"""A modality encoder made of a real tagger and a real sentence embedder.

``E_t(s)`` is the MiniLM sentence embedding of a text. ``E_x(x)`` turns the tagger's
class probabilities into a direction in that same space: each class name is written
as a natural phrase and embedded once, and the input is the weighted mean of the
phrases of its most probable classes, with the mean of all class phrases taken away.

How the probabilities are used (measured on real sounds and photos, see docs/RESULTS.md):
- top-n: only the ``top_n`` most probable classes count. The long tail of hundreds of
  near-zero classes otherwise adds up to a generic "sound"/"object" direction.
- sharpening: weights are ``p ** sharpen``; with 1 the clip's leading classes keep their
  own balance (YAMNet's "Bell 0.46, Musical instrument 0.20" stays two-sided).
- centring: taking away the mean class phrase removes what every class shares
  ("the sound of ..."), so the cosine with a candidate rises with its content words,
  not with its being any sound or object at all.
"""

from __future__ import annotations

import functools
from typing import Callable, Protocol

import numpy as np
import torch

from cgcap.data.media import DecodedMedia, MediaError
from cgcap.encoders.base import normalised
from cgcap.encoders.phrases import load_phrases, phrase_words
from cgcap.encoders.sentence import SentenceEmbedder
from cgcap.models.onnx_text import TextBackend


class Tagger(Protocol):
    modality: str
    class_names: list[str]

    def probabilities(self, source) -> np.ndarray: ...


def audio_class_phrase(name: str) -> str:
    """AudioSet's "Vehicle horn, car horn, honking" -> "the sound of vehicle horn, car horn, honking"."""
    return f"the sound of {name.lower()}"


def image_class_phrase(name: str) -> str:
    """ImageNet's "Egyptian cat" -> "a photo of an Egyptian cat"."""
    return f"a photo of {'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


class TaggerEncoder:
    """``ModalityEncoder`` over a tagger's classes: inputs and texts in the MiniLM sentence space."""

    def __init__(self, spec: str, tagger: Tagger, embedder: SentenceEmbedder, phrase: Callable[[str], str],
                 top_n: int = 5, sharpen: float = 1.0, centre: bool = True):
        self.spec = spec
        # Class name -> the one phrase a caption would use for it (cgcap/encoders/phrases).
        self.caption_phrases = load_phrases(tagger.modality)
        self.tagger = tagger
        self.modality = tagger.modality
        self.embedder = embedder
        self.phrase = phrase
        self.top_n = top_n
        self.sharpen = sharpen
        self.centre = centre
        self._last: tuple[DecodedMedia, np.ndarray] | None = None

    @functools.cached_property
    def class_embeddings(self) -> torch.Tensor:
        """``[classes, dim]``: every class phrase embedded once per encoder."""
        return self.embedder.embed_texts([self.phrase(name) for name in self.tagger.class_names])

    @functools.cached_property
    def mean_class_embedding(self) -> torch.Tensor:
        return self.class_embeddings.mean(dim=0)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return self.embedder.embed_texts(texts)

    def class_probabilities(self, media: DecodedMedia) -> np.ndarray:
        # embed_input and content_words of one input run the tagger once (the last input is kept).
        if self._last is not None and self._last[0] is media:
            return self._last[1]
        probabilities = self._class_probabilities(media)
        self._last = (media, probabilities)
        return probabilities

    def _class_probabilities(self, media: DecodedMedia) -> np.ndarray:
        if self.modality == "audio":
            if media.audio is None or media.sample_rate is None:
                raise MediaError(f"{media.name} has no sound track for the audio encoder")
            from cgcap.encoders.audio import resample

            return self.tagger.probabilities(resample(media.audio, media.sample_rate, self.tagger.sample_rate))
        if media.modality == "image" and media.image is not None:
            return self.tagger.probabilities([media.image])
        if media.modality == "video" and media.frames:
            return self.tagger.probabilities(list(media.frames))
        raise ValueError(f"{media.name} is {media.modality}: the image encoder embeds images and video frames")

    def direction(self, probabilities: np.ndarray) -> torch.Tensor:
        """The input's unit vector from its class probabilities ``[classes]``."""
        weights = torch.as_tensor(np.asarray(probabilities, dtype=np.float32)) ** self.sharpen
        keep = weights.topk(min(self.top_n, len(weights))).indices
        chosen = weights[keep] / weights[keep].sum().clamp(min=1e-12)
        vector = (chosen[:, None] * self.class_embeddings[keep]).sum(dim=0)
        if self.centre:
            vector = vector - self.mean_class_embedding
        return normalised(vector)

    def embed_input(self, media: DecodedMedia) -> torch.Tensor:
        return self.direction(self.class_probabilities(media))

    def content_words(self, media: DecodedMedia) -> list[str]:
        """Names for the input from its ``top_n`` classes, most probable first, for the decoder's candidates
        (decoding.content_candidates): one caption phrase per class ("Bark" -> "dog barking"), never the class
        names' words, which the decoder stacked ("farm animals rooster")."""
        probabilities = self.class_probabilities(media)
        names = [self.tagger.class_names[index] for index in np.argsort(-probabilities)[: self.top_n]]
        return phrase_words(names, self.caption_phrases)

    def top_classes(self, media: DecodedMedia, count: int = 5) -> list[tuple[str, float]]:
        """The tagger's most probable classes, for reports and tests."""
        probabilities = self.class_probabilities(media)
        order = np.argsort(-probabilities)[:count]
        return [(self.tagger.class_names[i], float(probabilities[i])) for i in order]


def tagger_encoder(loaded, device: str = "cpu", dtype: torch.dtype | None = None, text_backend: TextBackend = "auto",
                   int8: bool = False) -> TaggerEncoder:
    """The store's ``tagger`` kind as a ``ModalityEncoder``. The taggers and the sentence embedder run on the CPU
    (a tagger runs once per input); the embedder, which embeds every candidate, on ``text_backend``."""
    phrase = audio_class_phrase if loaded.model.modality == "audio" else image_class_phrase
    return TaggerEncoder(loaded.spec, loaded.model, loaded.processor.on_backend(text_backend, int8), phrase)
