"""Audio files (wav, flac, ogg, mp3) through librosa, which reads them with libsndfile."""

from __future__ import annotations

import io

import numpy as np

from cgcap.config import LimitSettings
from cgcap.data.media import CorruptMedia, DecodedMedia, MediaTooLong, SilentAudio

# Digital silence and near-silence: a peak below -80 dBFS carries nothing to caption.
SILENCE_PEAK = 1e-4
# libsndfile estimates an MP3's length from its header; a decode far shorter than that
# means the file was cut off. The margin allows for estimates of VBR files without a
# length header.
TRUNCATED_FRACTION = 0.9


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


def _declared_wav_bytes(data: bytes) -> int | None:
    """The RIFF header's own length; streaming writers leave 0 or 0xFFFFFFFF there."""
    declared = int.from_bytes(data[4:8], "little")
    return None if declared in (0, 0xFFFFFFFF) else declared + 8


def decode_sound(
    data: bytes, fmt: str, limits: LimitSettings, filename: str | None, sample_rate: int | None
) -> DecodedMedia:
    import librosa
    import soundfile

    name = repr(filename) if filename else f"the {fmt} upload"
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise CorruptMedia(f"{name} is not a readable {fmt} file: {_reason(error)}") from None
    # Refuse long clips from the header, before decoding minutes of audio.
    if info.samplerate > 0:
        check_duration(info.frames / info.samplerate, limits.max_audio_seconds, name, "audio")
    if fmt == "wav":
        declared = _declared_wav_bytes(data)
        if declared is not None and declared > len(data):
            raise CorruptMedia(f"{name} is truncated: its header declares {declared:,} bytes, {len(data):,} arrived")
    try:
        samples, rate = librosa.load(io.BytesIO(data), sr=sample_rate, mono=True, dtype=np.float32)
    except (RuntimeError, soundfile.LibsndfileError, EOFError, ValueError) as error:
        raise CorruptMedia(f"{name} is corrupt or truncated: {_reason(error)}") from None
    native_frames = samples.shape[-1] * info.samplerate / rate
    if info.frames > 0 and native_frames < TRUNCATED_FRACTION * info.frames:
        raise CorruptMedia(
            f"{name} is truncated: decoded {native_frames / info.samplerate:.2f} s of the "
            f"{info.frames / info.samplerate:.2f} s its header declares"
        )
    duration = check_audio(samples, int(rate), limits, name)
    return DecodedMedia("audio", fmt, audio=samples, sample_rate=int(rate), duration_seconds=duration, filename=filename)


def _reason(error: Exception) -> str:
    # libsndfile's messages name the BytesIO object; keep only the cause.
    text = str(error).split(": ", 1)[-1] if "BytesIO" in str(error) else str(error)
    return text.strip() or type(error).__name__
