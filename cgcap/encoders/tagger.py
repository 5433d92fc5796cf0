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
import re
from typing import Callable, Protocol

import numpy as np
import torch

from cgcap.data.media import DecodedMedia, MediaError
from cgcap.encoders.base import normalised
from cgcap.encoders.phrases import phrase_words
from cgcap.encoders.sentence import SentenceEmbedder
from cgcap.models.onnx_text import TextBackend


# Words of class names that name nothing ("Inside, small room", "Sound effect", "Music of Asia").
FUNCTION_WORDS = frozenset({"the", "and", "for", "with", "inside", "outside", "small", "large", "effect", "sound"})


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


def class_name_words(names: list[str]) -> list[str]:
    """Each class name's alternatives, whole, then their other single words, most probable class first.

    "Singing bowl" offers "singing bowl" and "bowl": the decoder writes a name of several
    tokens whole, and its first word alone ("singing") would name something else. "Rodents,
    rats, mice" offers each alternative; "Keyboard (musical)" offers "keyboard". Words that
    name nothing ("Sound effect") and AudioSet's acoustic scenes ("Inside, small room") are
    left out.
    """
    alternatives: list[str] = []
    for name in names:
        if name.lower().startswith(("inside,", "outside,")):
            continue
        for alternative in re.sub(r"\([^)]*\)", "", name.lower()).split(","):
            words = re.findall(r"[a-z][a-z'-]*[a-z]|[a-z]", alternative)
            if any(len(w) > 2 and w not in FUNCTION_WORDS for w in words):
                alternatives.append(" ".join(words))
    firsts = {alternative.split()[0] for alternative in alternatives if " " in alternative}
    singles = [w for alternative in alternatives for w in alternative.split()
               if len(w) > 2 and w not in FUNCTION_WORDS and w not in firsts]
    return list(dict.fromkeys(alternatives + singles))


class TaggerEncoder:
    """``ModalityEncoder`` over a tagger's classes: inputs and texts in the MiniLM sentence space."""

    def __init__(self, spec: str, tagger: Tagger, embedder: SentenceEmbedder, phrase: Callable[[str], str],
                 top_n: int = 5, sharpen: float = 1.0, centre: bool = True,
                 caption_phrases: dict[str, str] | None = None):
        self.spec = spec
        # Class name -> the one phrase a caption would use (cgcap/encoders/phrases); None offers the class
        # names' words as they are (class_name_words).
        self.caption_phrases = caption_phrases
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
        (decoding.content_candidates): one caption phrase per class (``phrase_words``), or without phrases
        every alternative and word of the class names (``class_name_words``)."""
        probabilities = self.class_probabilities(media)
        names = [self.tagger.class_names[index] for index in np.argsort(-probabilities)[: self.top_n]]
        if self.caption_phrases is not None:
            return phrase_words(names, self.caption_phrases)
        return class_name_words(names)

    def top_classes(self, media: DecodedMedia, count: int = 5) -> list[tuple[str, float]]:
        """The tagger's most probable classes, for reports and tests."""
        probabilities = self.class_probabilities(media)
        order = np.argsort(-probabilities)[:count]
        return [(self.tagger.class_names[i], float(probabilities[i])) for i in order]


def tagger_encoder(loaded, device: str = "cpu", dtype: torch.dtype | None = None, text_backend: TextBackend = "auto",
                   int8: bool = False) -> TaggerEncoder:
    """The store's ``tagger`` kind as a ``ModalityEncoder``. The taggers and the sentence embedder run on the CPU
    (a tagger runs once per input); the embedder, which embeds every candidate, on ``text_backend``."""
    # Content words stay the class names' own words: with one phrase per class (cgcap/encoders/phrases) the
    # offline dev set's audio captions named their content less often (13 of 16 against 14), so the phrases
    # are an option of TaggerEncoder (caption_phrases=load_phrases(modality)), not the default.
    phrase = audio_class_phrase if loaded.model.modality == "audio" else image_class_phrase
    return TaggerEncoder(loaded.spec, loaded.model, loaded.processor.on_backend(text_backend, int8), phrase)
