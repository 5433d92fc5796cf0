"""What every media module shares: the decoded input, the refusals and the checks on it.

The format modules (``media_audio``, ``media_image``, ``media_video``) depend on this module
only; ``cgcap.data.media`` picks one of them for each input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from cgcap.config import LimitSettings

if TYPE_CHECKING:
    from PIL.Image import Image

Modality = Literal["audio", "image", "video"]


class MediaError(ValueError):
    """Input media refused; ``status_code`` is the HTTP status the service answers with."""

    status_code = 422


class MediaTooLarge(MediaError):
    status_code = 413


class UnsupportedMediaType(MediaError):
    status_code = 415


class CorruptMedia(MediaError):
    """Empty, truncated or undecodable content."""

    status_code = 422


class SilentAudio(MediaError):
    status_code = 422


class MediaTooLong(MediaError):
    status_code = 422


# A file may lack at most this fraction of what its header declares (bytes, samples or
# seconds) and still be captioned, with a warning: uploads and recorders often lose the
# last few bytes, and the rest is still worth a caption. More missing than this is
# refused as truncated. One rule for every format.
MAX_MISSING_FRACTION = 0.1
# Decoders pad or round a stream's end by a frame or two; a shortfall this small is no loss.
NEGLIGIBLE_FRACTION = 0.005


def check_complete(received: float, declared: float, name: str, what: str,
                   tolerance: float = NEGLIGIBLE_FRACTION) -> str | None:
    """None when ``received`` covers ``declared``; a warning when at most ``MAX_MISSING_FRACTION``
    is missing; otherwise ``CorruptMedia``. ``what`` reads e.g. "decoded 1.2 s of the 3.0 s its header declares"."""
    if declared <= 0 or received >= declared * (1 - tolerance):
        return None
    missing = 1 - received / declared
    if missing > MAX_MISSING_FRACTION:
        raise CorruptMedia(f"{name} is truncated: {what} ({missing:.0%} missing; at most "
                           f"{MAX_MISSING_FRACTION:.0%} may be)")
    return f"truncated: {what} ({missing:.2%} missing); captioned what arrived"


@dataclass
class DecodedMedia:
    """One decoded input. Audio is mono float32 in [-1, 1]; images and frames are RGB."""

    modality: Modality
    format: str  # what the content turned out to be: wav, mp3, jpeg, mp4, ...
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    image: Image | None = None
    frames: list[Image] = field(default_factory=list)
    duration_seconds: float | None = None
    filename: str | None = None
    # What was wrong with an input that was still decoded (a short data chunk, a tag
    # libsndfile refused): reported with the caption, never silently dropped.
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.filename or f"the {self.format} input"


# Digital silence and near-silence: a peak below -80 dBFS carries nothing to caption.
SILENCE_PEAK = 1e-4


def check_audio(samples: np.ndarray, sample_rate: int, limits: LimitSettings, name: str) -> float:
    """Refuse empty, non-finite, silent or too long audio; returns its duration in seconds."""
    if samples.size == 0:
        raise CorruptMedia(f"{name} holds no audio samples")
    if not np.all(np.isfinite(samples)):
        raise CorruptMedia(f"{name} holds non-finite audio samples (NaN or infinity)")
    duration = samples.shape[-1] / sample_rate
    check_duration(duration, limits.max_audio_seconds, name, "audio")
    peak = float(np.max(np.abs(samples)))
    if peak < SILENCE_PEAK:
        raise SilentAudio(f"{name} is silent (peak level {_dbfs(peak)}); there is nothing to caption")
    return duration


def check_duration(seconds: float, limit: float, name: str, what: str) -> None:
    if seconds > limit:
        raise MediaTooLong(f"{name} is {seconds:.1f} s of {what}; the limit is {limit:g} s")


def _dbfs(peak: float) -> str:
    return "-inf dBFS" if peak <= 0 else f"{20 * np.log10(peak):.0f} dBFS"


def check_pixels(width: int, height: int, limits: LimitSettings, name: str) -> None:
    if width * height > limits.max_image_pixels:
        raise MediaTooLarge(
            f"{name} is {width}x{height} = {width * height:,} pixels; the limit is {limits.max_image_pixels:,}"
        )
