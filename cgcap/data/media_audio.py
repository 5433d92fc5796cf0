"""Audio files (wav, flac, ogg/opus, mp3) through librosa, which reads them with libsndfile.

What libsndfile cannot open (an MP3 whose ID3v2 tag declares a length of 0, a WAV
holding a codec it lacks) gets a second chance through PyAV (FFmpeg) before it is
refused, and the caption then carries a warning saying so.
"""

from __future__ import annotations

import io

import numpy as np

from cgcap.config import LimitSettings
from cgcap.data.media import CorruptMedia, DecodedMedia, MediaTooLong, SilentAudio, check_complete

# Digital silence and near-silence: a peak below -80 dBFS carries nothing to caption.
SILENCE_PEAK = 1e-4
# The first MPEG frame of an MP3 with a length header holds one of these (LAME/Xing, Fraunhofer).
MP3_LENGTH_HEADERS = (b"Xing", b"Info", b"VBRI")


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


def mp3_declares_length(data: bytes) -> bool:
    """Whether the first MPEG frame carries a Xing/Info/VBRI header with the stream's exact length."""
    offset = 0
    if data[:3] == b"ID3":
        # The tag's size is syncsafe (7 bits a byte); a broken size of 0 is skipped by the frame search.
        offset = 10 + sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(data[6:10]))
        if offset > len(data):
            offset = 10
    for start in range(offset, min(len(data) - 1, offset + 65_536)):
        if data[start] == 0xFF and data[start + 1] & 0xE0 == 0xE0:
            return any(tag in data[start:start + 64] for tag in MP3_LENGTH_HEADERS)
    return False


class _LibsndfileFailed(Exception):
    """libsndfile could not open or decode the file; ``refusal`` is the CorruptMedia it would raise."""

    def __init__(self, refusal: CorruptMedia, reason: str):
        super().__init__(str(refusal))
        self.refusal, self.reason = refusal, reason


def decode_sound(
    data: bytes, fmt: str, limits: LimitSettings, filename: str | None, sample_rate: int | None
) -> DecodedMedia:
    name = repr(filename) if filename else f"the {fmt} upload"
    if fmt == "mp3" and not mp3_declares_length(data):
        # Without a length header libsndfile guesses the length from the first frame's bitrate
        # and stops decoding there, silently dropping most of a VBR file; FFmpeg decodes every frame.
        return _decode_with_ffmpeg(data, fmt, limits, filename, sample_rate)
    try:
        return _decode_with_libsndfile(data, fmt, limits, name, filename, sample_rate)
    except _LibsndfileFailed as failed:
        try:
            media = _decode_with_ffmpeg(data, fmt, limits, filename, sample_rate)
        except CorruptMedia as error:
            # Neither decoder could read it: name both reasons.
            raise CorruptMedia(f"{failed.refusal}; FFmpeg says it {str(error).removeprefix(name + ' ')}") from None
        media.warnings.insert(0, f"libsndfile could not read it ({failed.reason}); decoded with FFmpeg instead")
        return media


def _decode_with_libsndfile(data: bytes, fmt: str, limits: LimitSettings, name: str,
                            filename: str | None, sample_rate: int | None) -> DecodedMedia:
    import librosa
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        reason = _reason(error)
        raise _LibsndfileFailed(CorruptMedia(f"{name} is not a readable {fmt} file: {reason}"), reason) from None
    warnings: list[str] = []
    # Refuse long clips from the header, before decoding minutes of audio.
    if info.samplerate > 0:
        check_duration(info.frames / info.samplerate, limits.max_audio_seconds, name, "audio")
    if fmt == "wav":
        declared = _declared_wav_bytes(data)
        if declared is not None:
            warning = check_complete(len(data), declared, name,
                                     f"its header declares {declared:,} bytes, {len(data):,} arrived", tolerance=0)
            warnings += [warning] if warning else []
    try:
        samples, rate = librosa.load(io.BytesIO(data), sr=sample_rate, mono=True, dtype=np.float32)
    except (RuntimeError, soundfile.LibsndfileError, EOFError, ValueError) as error:
        # e.g. a FLAC cut mid-frame: libsndfile loses sync and returns nothing, FFmpeg decodes up to the cut.
        reason = _reason(error)
        raise _LibsndfileFailed(CorruptMedia(f"{name} is corrupt or truncated: {reason}"), reason) from None
    native_frames = samples.shape[-1] * info.samplerate / rate
    if info.frames > 0 and fmt != "wav":  # a WAV's shortfall was measured in bytes above
        warning = check_complete(native_frames, info.frames, name, f"decoded {native_frames / info.samplerate:.2f} s "
                                 f"of the {info.frames / info.samplerate:.2f} s its header declares")
        warnings += [warning] if warning else []
    duration = check_audio(samples, int(rate), limits, name)
    return DecodedMedia("audio", fmt, audio=samples, sample_rate=int(rate), duration_seconds=duration,
                        filename=filename, warnings=warnings)


def _decode_with_ffmpeg(data: bytes, fmt: str, limits: LimitSettings, filename: str | None,
                        sample_rate: int | None) -> DecodedMedia:
    from cgcap.data.media_video import decode_container

    # FFmpeg reads an MP3's exact length from its Xing header only when it finds it, and
    # otherwise estimates it from the bitrate: a shorter decode says nothing about truncation.
    return decode_container(data, fmt, limits, filename, sample_rate, video_frames=0,
                            length_is_estimate=fmt == "mp3")


def _reason(error: Exception) -> str:
    # libsndfile's messages name the BytesIO object; keep only the cause.
    text = str(error).split(": ", 1)[-1] if "BytesIO" in str(error) else str(error)
    return text.strip() or type(error).__name__
