"""User media in, decoded media out: the one door every input (CLI, service, jobs) goes through.

``decode_media`` recognises the type from the content (magic bytes, then container
probing), never trusting the file name alone, and refuses bad input with a
``MediaError`` whose ``status_code`` the service returns as is (413, 415, 422).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
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


# The formats accepted; every other type is refused with 415 and this list.
SUPPORTED = "audio: wav, flac, ogg/opus, mp3, m4a/aac; image: jpeg, png, webp; video: mp4, mov, webm, mkv, avi"


def detect_format(head: bytes) -> tuple[str, str] | None:
    """``(family, format)`` from the first bytes, or None. Families pick the decoder:
    ``sound`` (libsndfile via librosa), ``image`` (PIL), ``container`` (PyAV probes the streams)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "sound", "wav"
    if head[:4] == b"fLaC":
        return "sound", "flac"
    if head[:4] == b"OggS":
        # Ogg also carries Theora video or Opus; the identification header sits in the first page.
        if b"\x80theora" in head:
            return "container", "ogv"
        return "sound", "opus" if b"OpusHead" in head[:64] else "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "sound", "mp3"  # MPEG audio frame sync with a layer set (layer 00 is AAC ADTS)
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "container", "aac"
    if head[:3] == b"\xff\xd8\xff":
        return "image", "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image", "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[4:8] == b"ftyp":
        return "container", "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "container", "webm" if b"webm" in head[:64] else "mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "container", "avi"
    return None


def _describe_unknown(filename: str | None) -> str:
    what = f"{filename!r}" if filename else "the upload"
    suffix = Path(filename).suffix.lower() if filename else ""
    hint = f" (its name says {suffix}, but the content is not)" if suffix else ""
    return f"unsupported media type: {what} is not a recognised audio, image or video file{hint}; supported {SUPPORTED}"


def read_source(source: bytes | str | Path, limits: LimitSettings, filename: str | None = None) -> tuple[bytes, str | None]:
    """The bytes of an upload or a file, refusing oversize input before reading it all."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        filename = filename or path.name
        if not path.is_file():
            raise MediaError(f"media file {str(path)!r} does not exist")
        size = os.path.getsize(path)
        if size > limits.max_upload_bytes:
            raise MediaTooLarge(f"{filename!r} is {size:,} bytes; the limit is {limits.max_upload_bytes:,} bytes")
        data = path.read_bytes()
    else:
        raise TypeError(f"media source must be bytes or a path, got {type(source).__name__}")
    if len(data) > limits.max_upload_bytes:
        what = f"{filename!r}" if filename else "the upload"
        raise MediaTooLarge(f"{what} is {len(data):,} bytes; the limit is {limits.max_upload_bytes:,} bytes")
    if not data:
        raise CorruptMedia(f"{filename!r} is empty" if filename else "the upload is empty")
    return data, filename


def decode_media(
    source: bytes | str | Path,
    limits: LimitSettings | None = None,
    filename: str | None = None,
    *,
    sample_rate: int | None = None,
    video_frames: int = 8,
) -> DecodedMedia:
    """Decode an audio clip, an image or a video, refusing what the limits forbid.

    ``sample_rate`` resamples audio (and a video's sound track) at decode time; by
    default audio keeps its own rate and the audio encoder resamples to its model's.
    """
    limits = limits or LimitSettings()
    data, filename = read_source(source, limits, filename)
    detected = detect_format(data[:4096])
    if detected is None:
        raise UnsupportedMediaType(_describe_unknown(filename))
    family, fmt = detected
    if family == "sound":
        from cgcap.data.media_audio import decode_sound

        return decode_sound(data, fmt, limits, filename, sample_rate)
    if family == "image":
        from cgcap.data.media_image import decode_image

        return decode_image(data, fmt, limits, filename)
    from cgcap.data.media_video import decode_container

    return decode_container(data, fmt, limits, filename, sample_rate, video_frames)
