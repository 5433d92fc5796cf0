"""CLAP-S / CLIP-S: cos(input embedding, caption embedding) with the modality encoders.

Reported under the name of the encoder that computed it: CLAP-S and CLIP-S only for
CLAP and CLIP models; a tagger encoder's cosine is e.g. ``yamnet-minilm-S``, because
a tagger's sentence-space cosine is not CLAP's and must not be read as one.

Computed per item inside the evaluation actor, where the media is already decoded
and the encoders are loaded; here the per-item values become the corpus figure.
"""

from __future__ import annotations

import torch

from cgcap.metrics.report import MetricReport

# Video: the mean of the frames' cosine and the audio track's cosine (encoders.input_scorer).
NAMES = {"audio": "CLAP-S", "image": "CLIP-S", "video": "video-S"}
CONTRASTIVE_NAMES = {"clap": "CLAP-S", "clip": "CLIP-S"}


def similarity_name(modality: str, encoder_spec: str | None) -> str:
    """The metric name for cos(input, caption) with this encoder spec: CLAP-S, CLIP-S or ``SPEC-S``."""
    if modality == "video":
        return NAMES["video"]
    from cgcap.models import known_models

    spec = (encoder_spec or "").strip()
    entry = known_models().get(spec.partition("@")[0])
    if entry is not None:
        return CONTRASTIVE_NAMES.get(entry.kind, f"{spec}-S")
    return NAMES[modality]  # a hub id, folder or open_clip spec: the CLAP / CLIP models the paper profile uses


def guided_score_name(modalities: list[str], encoder_specs: dict[str, str]) -> str | None:
    """The name of a caption's modality score: one encoder's metric name, or video-S for the mean of both."""
    if not modalities:
        return None
    if len(modalities) > 1:
        return NAMES["video"]
    return similarity_name(modalities[0], encoder_specs.get(modalities[0]))


def similarity_names(audio_encoder: str | None, image_encoder: str | None) -> dict[str, str]:
    return {"audio": similarity_name("audio", audio_encoder), "image": similarity_name("image", image_encoder),
            "video": NAMES["video"]}


def similarity_report(similarities: dict[str, float], modalities: dict[str, str],
                      names: dict[str, str] | None = None) -> MetricReport:
    """Mean cosine per metric name (``names``: modality -> name; default CLAP-S, CLIP-S, video-S)."""
    names = names or NAMES
    report = MetricReport()
    grouped: dict[str, list[float]] = {}
    for key, value in similarities.items():
        name = names.get(modalities.get(key, ""), None)
        if name is None:
            continue
        grouped.setdefault(name, []).append(value)
        report.per_item[key] = {name: value}
    for name, values in grouped.items():
        report.corpus[name] = sum(values) / len(values)
    for name in sorted(set(names.values()) - set(grouped)):
        report.unavailable[name] = "no item of that modality was captioned"
    return report
