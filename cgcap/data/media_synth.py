"""Real media files made in code: tones, photos and videos in real container formats.

Used by the tests, the benchmarks and ``scripts/make_samples.py``, so every fixture is
a genuine file that the same decoders read in production.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

# soundfile's (format, subtype) for each audio file type it writes.
SOUNDFILE_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def tone(frequency: float, seconds: float, sample_rate: int, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone, float32 mono."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def audio_bytes(samples: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """``samples`` (``[n]`` mono or ``[n, channels]``) as a wav/flac/ogg/mp3 file, or m4a (AAC)."""
    if fmt == "m4a":
        return _m4a_bytes(samples, sample_rate)
    import soundfile

    container, subtype = SOUNDFILE_FORMATS[fmt]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _m4a_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        _encode_audio(container, stream, samples, sample_rate)
    return buffer.getvalue()


def _encode_audio(container, stream, samples: np.ndarray, sample_rate: int, chunk: int = 1024) -> None:
    import av

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    for start in range(0, len(samples), chunk):
        frame = av.AudioFrame.from_ndarray(samples[None, start:start + chunk], format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def image_bytes(picture, fmt: str, exif_orientation: int | None = None, quality: int = 90) -> bytes:
    """A PIL image or an ``[h, w, c]`` uint8 array as jpeg/png/webp, optionally with an EXIF orientation."""
    from PIL import Image

    if not isinstance(picture, Image.Image):
        picture = Image.fromarray(np.asarray(picture))
    options: dict = {"quality": quality} if fmt in ("jpeg", "webp") else {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # the EXIF Orientation tag
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def video_bytes(
    frames: Sequence[np.ndarray],
    fps: int = 10,
    fmt: str = "mp4",
    codec: str = "libx264",
    audio: np.ndarray | None = None,
    audio_rate: int = 16_000,
) -> bytes:
    """RGB uint8 frames (even width and height) as a video, with an optional AAC/Opus sound track."""
    import av

    height, width = frames[0].shape[:2]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream("aac" if fmt == "mp4" else "libopus", rate=audio_rate, layout="mono")
        for picture in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            _encode_audio(container, sound, audio, audio_rate)
    return buffer.getvalue()


def ramp_frames(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """Frames whose red level rises with time (frame i: red = 255 * i / count), to check sampling."""
    frames = []
    for index in range(count):
        picture = np.zeros((height, width, 3), dtype=np.uint8)
        picture[..., 0] = int(255 * index / count)
        frames.append(picture)
    return frames
