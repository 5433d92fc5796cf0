"""Containers (mp4, mov, webm, mkv, avi, m4a, ogv) through PyAV: sampled frames and the sound track.

A container with no picture stream is audio (an m4a, an audio-only webm); cover art
(an attached picture in an m4a or an MP3's ID3 tag) is not a picture stream.
"""

from __future__ import annotations

import io

import numpy as np

from cgcap.config import LimitSettings
from cgcap.data.media import CorruptMedia, DecodedMedia, SilentAudio, check_complete
from cgcap.data.media_audio import check_audio, check_duration
from cgcap.data.media_image import check_pixels


class FrameSampler:
    """Keeps ``count`` frames spread evenly over the video while it decodes, one pass.

    With a known duration it takes the first frame at or after the centre of each of
    ``count`` equal segments. Without one it keeps every ``stride``-th frame and halves
    what it holds (doubling the stride) whenever it holds ``2 * count``, so memory stays
    bounded and the kept frames stay evenly spaced.
    """

    def __init__(self, count: int, duration: float | None):
        self.count = count
        self.targets = [(i + 0.5) * duration / count for i in range(count)] if duration else None
        self.kept: list = []
        self.stride = 1
        self.seen = 0
        self.last = None

    def offer(self, frame) -> None:
        self.last = frame
        if self.targets is not None:
            time = frame.time if frame.time is not None else 0.0
            while len(self.kept) < self.count and time >= self.targets[len(self.kept)]:
                self.kept.append(frame.to_image())
        elif self.seen % self.stride == 0:
            self.kept.append(frame.to_image())
            if len(self.kept) >= 2 * self.count:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.seen += 1

    def frames(self) -> list:
        kept = list(self.kept)
        if self.targets is None and len(kept) > self.count:
            kept = [kept[round(i * (len(kept) - 1) / max(self.count - 1, 1))] for i in range(self.count)]
        # A stream shorter than its declared duration: the last frame stands for the rest.
        while kept and len(kept) < self.count and self.targets is not None and self.last is not None:
            kept.append(self.last.to_image())
        return kept


def _duration(container, stream) -> float | None:
    if stream is not None and stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # microseconds (AV_TIME_BASE)
    return None


def decode_container(
    data: bytes,
    fmt: str,
    limits: LimitSettings,
    filename: str | None,
    sample_rate: int | None,
    video_frames: int,
    length_is_estimate: bool = False,
) -> DecodedMedia:
    """``length_is_estimate``: the container's duration is a guess (an MP3 without a length
    header), so a shorter decode is not a sign of truncation."""
    import av

    name = repr(filename) if filename else f"the {fmt} upload"
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, EOFError) as error:
        raise CorruptMedia(f"{name} is not a readable {fmt} file: {_why(error)}") from None
    with container:
        pictures = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        video = pictures[0] if pictures else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise CorruptMedia(f"{name} holds neither a picture nor a sound stream")
        is_video = video is not None
        limit = limits.max_video_seconds if is_video else limits.max_audio_seconds
        duration = _duration(container, video or audio)
        if duration is not None:
            check_duration(duration, limit, name, "video" if is_video else "audio")
        if video is not None:
            check_pixels(video.codec_context.width, video.codec_context.height, limits, name)
        sampler = FrameSampler(video_frames, duration) if is_video else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate or (audio.rate if audio else None))
        chunks: list[np.ndarray] = []
        rate: int | None = None
        try:
            for packet in container.demux(*[s for s in (video, audio) if s is not None]):
                for frame in packet.decode():
                    if frame.time is not None and frame.time > limit:
                        check_duration(frame.time, limit, name, "video" if is_video else "audio")
                    if isinstance(frame, av.VideoFrame):
                        sampler.offer(frame)
                    else:
                        for mono in resampler.resample(frame):
                            chunks.append(mono.to_ndarray().reshape(-1))
                            rate = mono.sample_rate
            if audio is not None:
                for mono in resampler.resample(None):  # flush what the resampler holds back
                    chunks.append(mono.to_ndarray().reshape(-1))
                    rate = mono.sample_rate
        except av.FFmpegError as error:
            # A stream cut short decodes up to the cut and then fails: keep what arrived and let the
            # completeness rule judge it against the declared length, when there is one to trust.
            decoded_something = chunks or (sampler is not None and sampler.kept)
            if duration is None or length_is_estimate or not decoded_something:
                raise CorruptMedia(f"{name} is corrupt or truncated: {_why(error)}") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else None
    warnings: list[str] = []
    if not is_video:
        if samples is None:
            raise CorruptMedia(f"{name} holds no decodable audio")
        seconds = check_audio(samples, rate, limits, name)
        if duration is not None and not length_is_estimate:
            warning = check_complete(seconds, duration, name,
                                     f"decoded {seconds:.2f} s of the {duration:.2f} s its header declares")
            warnings += [warning] if warning else []
        return DecodedMedia("audio", _audio_format(fmt), audio=samples, sample_rate=rate,
                            duration_seconds=seconds, filename=filename, warnings=warnings)
    frames = sampler.frames()
    if not frames:
        raise CorruptMedia(f"{name} holds no decodable video frames")
    warning = _check_cut_off(sampler.last, video, duration, name)
    warnings += [warning] if warning else []
    if samples is not None:
        try:
            check_audio(samples, rate, limits.model_copy(update={"max_audio_seconds": limits.max_video_seconds}), name)
        except (SilentAudio, CorruptMedia):
            samples, rate = None, None  # a silent or broken sound track gives no guidance: frames only
    seconds = duration if duration is not None else (sampler.last.time if sampler.last and sampler.last.time else None)
    return DecodedMedia("video", fmt, audio=samples, sample_rate=rate, frames=frames,
                        duration_seconds=seconds, filename=filename, warnings=warnings)


def _check_cut_off(last, stream, duration: float | None, name: str) -> str | None:
    """A truncated stream still decodes up to the cut; its pictures then end early."""
    if duration is None or last is None or last.time is None:
        return None
    frame_seconds = float(1 / stream.average_rate) if stream.average_rate else 0.0
    decoded = last.time + frame_seconds
    return check_complete(decoded, duration, name, f"decoded {decoded:.2f} s of the {duration:.2f} s its header declares")


def _why(error: Exception) -> str:
    # PyAV's messages carry an errno and the name of the in-memory file; keep the cause.
    return getattr(error, "strerror", None) or str(error)


def _audio_format(fmt: str) -> str:
    return {"mp4": "m4a"}.get(fmt, fmt)
