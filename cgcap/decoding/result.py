"""What one caption request returns, from the CLI, a Serve replica or an evaluation actor."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cgcap.decoding.plan import ClassifierGuide


class Beam(BaseModel):
    text: str
    tokens: list[int] = Field(default_factory=list)
    lm_score: float  # mean log-probability of the caption's tokens
    modality_score: float | None = None  # cos(input, prompt + caption); None in text-only mode
    classifier_score: float | None = None  # P(wanted label | prompt + caption)
    # mean log-probability of the caption's tokens under the unsteered LM; set when decoding.pick_fluency > 0
    fluency: float | None = None
    finished: bool = True


class CaptionResult(BaseModel):
    input: str | None = None  # file name or id; None in text-only mode
    modality: str | None = None  # audio, image, video or None (text-only)
    # the text the caption continues; caption and beam texts start with it (a final "a" perhaps written "an":
    # decoding.article; articles.split_prompt finds it in either form)
    prompt: str | None = None
    caption: str
    beams: list[Beam]
    # What the beams' modality_score is: CLAP-S, CLIP-S, video-S (both towers), or SPEC-S for a
    # tagger encoder such as yamnet-minilm (never CLAP-S for a tagger); None without a modality term.
    modality_score_name: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)  # seconds per stage
    model_ids: dict[str, str | None] = Field(default_factory=dict)
    guide: ClassifierGuide | None = None  # the classifier that steered this input; None when λ1 = 0
    settings: dict[str, Any] = Field(default_factory=dict)
    # What was wrong with the input that was captioned anyway (a short data chunk, a tag
    # libsndfile refused); empty for a clean file.
    warnings: list[str] = Field(default_factory=list)
