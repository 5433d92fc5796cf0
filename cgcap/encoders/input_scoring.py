"""The modality scorer for one input: ``a_j = cos(E_x(x), E_t(s_j))`` (docs/ALGORITHM.md, L_mod).

Video, which the papers leave as future work, is guided by its frames (image
encoder), its sound track (audio encoder), or the mean of both scores.
"""

from __future__ import annotations

from typing import Literal, Mapping

import torch

from cgcap.data.media_types import DecodedMedia, MediaError
from cgcap.decoding.scoring import CandidateScorer, ModalityScorer
from cgcap.encoders.base import ModalityEncoder

VideoMode = Literal["image", "audio", "both"]
VIDEO_MODES = ("image", "audio", "both")


class MeanScorer:
    """The mean of several scorers' scores for the same texts."""

    def __init__(self, scorers: list[CandidateScorer]):
        self.scorers = scorers
        self.content_words = [w for scorer in scorers for w in getattr(scorer, "content_words", [])]

    def score(self, texts: list[str]) -> torch.Tensor:
        return torch.stack([scorer.score(texts) for scorer in self.scorers]).mean(dim=0)


def guiding_modalities(media: DecodedMedia, video_mode: VideoMode = "both") -> list[str]:
    """Which encoders guide a caption of this input."""
    if video_mode not in VIDEO_MODES:
        raise ValueError(f"video_mode must be one of {', '.join(VIDEO_MODES)}, got {video_mode!r}")
    if media.modality != "video":
        return [media.modality]
    if video_mode == "audio":
        if media.audio is None:
            raise MediaError(f"{media.name} has no audible sound track, so video_mode 'audio' cannot guide it")
        return ["audio"]
    if video_mode == "image" or media.audio is None:
        return ["image"]  # 'both' on a video without (audible) sound: its frames alone
    return ["image", "audio"]


def content_words(encoder: ModalityEncoder, media: DecodedMedia) -> list[str]:
    """Words that name the input, from encoders that know them (taggers); none from CLAP or CLIP."""
    words = getattr(encoder, "content_words", None)
    return list(words(media)) if callable(words) else []


def input_scorer(
    media: DecodedMedia, encoders: Mapping[str, ModalityEncoder], video_mode: VideoMode = "both"
) -> CandidateScorer:
    modalities = guiding_modalities(media, video_mode)
    missing = [modality for modality in modalities if modality not in encoders]
    if missing:
        raise ValueError(f"no {' or '.join(missing)} encoder is loaded for {media.modality} input {media.name}")
    scorers = [ModalityScorer(encoders[m].embed_input(media), encoders[m], content_words(encoders[m], media))
               for m in modalities]
    return scorers[0] if len(scorers) == 1 else MeanScorer(scorers)
