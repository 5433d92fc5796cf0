"""CLAP-S / CLIP-S: cos(input embedding, caption embedding) with the modality encoders.

Computed per item inside the evaluation actor, where the media is already decoded
and the encoders are loaded; here the per-item values become the corpus figure.
"""

from __future__ import annotations

import torch

from cgcap.metrics.report import MetricReport

# Video: the mean of the frames' CLIP cosine and the audio track's CLAP cosine (encoders.input_scorer).
NAMES = {"audio": "CLAP-S", "image": "CLIP-S", "video": "video-S"}


def similarity_report(similarities: dict[str, float], modalities: dict[str, str]) -> MetricReport:
    """Mean cosine per metric name (CLAP-S over audio, CLIP-S over images, video-S over videos)."""
    report = MetricReport()
    grouped: dict[str, list[float]] = {}
    for key, value in similarities.items():
        name = NAMES.get(modalities.get(key, ""), None)
        if name is None:
            continue
        grouped.setdefault(name, []).append(value)
        report.per_item[key] = {name: value}
    for name, values in grouped.items():
        report.corpus[name] = sum(values) / len(values)
    for name in sorted(set(NAMES.values()) - set(grouped)):
        report.unavailable[name] = "no item of that modality was captioned"
    return report
