"""A corpus of real-world media encodings, made in code, each with what decode_media must do with it.

Every file is a genuine encoding written by the libraries users' tools share (libsndfile,
LAME through libsndfile, FFmpeg through PyAV, libjpeg/libpng/libwebp through Pillow);
the damaged ones are damaged the way real files are (tags with broken lengths, a data
chunk a few bytes short, a download cut off).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

TONE_HZ = 440.0


@dataclass(frozen=True)
class Captioned:
    """Decoded; ``warning`` is a phrase its warnings must hold (None: it must have none)."""

    modality: str
    format: str
    seconds: float | None = None  # the decoded duration, for audio
    warning: str | None = None
    picture: str | None = None  # the name of the reference picture its pixels must match
    rows: int | None = None  # for a cut image: how many top rows must match it (the rest is the decoder's fill)


@dataclass(frozen=True)
class Refused:
    status_code: int
    reason: str  # a phrase the refusal must hold


@dataclass(frozen=True)
class CorpusFile:
    name: str
    make: Callable[[], bytes]
    expect: Captioned | Refused


# ---------------------------------------------------------------- audio


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def varying(rate: int) -> np.ndarray:
    """A near-silent second then two seconds of noise: a VBR encoder's bitrate jumps between them."""
    noise = np.random.default_rng(0).standard_normal(2 * rate).astype(np.float32) * 0.3
    return np.concatenate([tone(1.0, rate) * 0.01, noise])


def sndfile(samples: np.ndarray, rate: int, container: str, subtype: str, **metadata: str) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with soundfile.SoundFile(buffer, "w", rate, channels, subtype, format=container) as sound:
        for key, value in metadata.items():  # title, artist, ...: a WAV's LIST/INFO chunk
            setattr(sound, key, value)
        sound.write(samples)
    return buffer.getvalue()


def m4a(samples: np.ndarray, rate: int) -> bytes:
    import av

    planar = np.ascontiguousarray(np.atleast_2d(samples.T if samples.ndim == 2 else samples))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo" if planar.shape[0] == 2 else "mono")
        for start in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + 1024]), format="fltp",
                                               layout=stream.layout.name)
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def mp3(samples: np.ndarray, rate: int) -> bytes:
    """LAME through libsndfile: variable bitrate, with a Xing header holding the exact length."""
    return sndfile(samples, rate, "MP3", "MPEG_LAYER_III")


def without_length_header(data: bytes) -> bytes:
    """The same MP3 with its Xing header blanked: what encoders that write none (and many streams) give."""
    at = data.index(b"Xing")
    return data[:at] + b"\0\0\0\0" + data[at + 4:]


def syncsafe(size: int) -> bytes:
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))


TITLE_FRAME = b"TIT2" + (6).to_bytes(4, "big") + b"\0\0" + b"\0Bell!"  # ID3v2.3 title frame


def id3v2(size: int | None = None) -> bytes:
    """An ID3v2.3 tag with a title; ``size`` overrides the length its header declares."""
    return b"ID3\x03\x00\x00" + syncsafe(len(TITLE_FRAME) if size is None else size) + TITLE_FRAME


def id3v2_with_cover_art() -> bytes:
    """An ID3v2.3 tag holding album art (an APIC frame with a JPEG), as music players write it."""
    body = b"\0" + b"image/jpeg\0" + b"\x03" + b"\0" + pillow(photo().resize((64, 43)), "JPEG")
    frame = b"APIC" + len(body).to_bytes(4, "big") + b"\0\0" + body
    return b"ID3\x03\x00\x00" + syncsafe(len(frame)) + frame


ID3V1 = b"TAG" + b"Bell".ljust(30, b"\0") + b"Artist".ljust(30, b"\0") + b"Album".ljust(30, b"\0") + b"2024" + \
    b"".ljust(30, b"\0") + b"\x0c"


def cut(data: bytes, kept: float) -> bytes:
    return data[: int(len(data) * kept)]


def noise_after(data: bytes, keep: int) -> bytes:
    return data[:keep] + np.random.default_rng(1).integers(0, 256, len(data) - keep, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------- images


def photo() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.chelsea())  # 451 x 300 RGB


def half_transparent() -> Image.Image:
    """Left half opaque red, right half fully transparent (a viewer shows white there)."""
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:, :20] = (200, 0, 0, 255)
    return Image.fromarray(rgba)


REFERENCE_PICTURES: dict[str, Callable[[], np.ndarray]] = {
    "photo": lambda: np.asarray(photo()),
    "grey photo": lambda: np.repeat(np.asarray(photo().convert("L"))[..., None], 3, axis=2),
    "red and white": lambda: np.concatenate([np.full((40, 20, 3), (200, 0, 0), np.uint8),
                                             np.full((40, 20, 3), 255, np.uint8)], axis=1),
}


def pillow(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_16bit(pixels: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), chunk by chunk as the PNG spec lays it out."""
    height, width = pixels.shape[:2]
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def palette_with_transparency() -> bytes:
    picture = Image.new("P", (40, 40), 0)
    picture.putpalette([0, 0, 0, 200, 0, 0])  # index 0: black (transparent below), index 1: red
    picture.paste(1, (0, 0, 20, 40))
    return pillow(picture, "PNG", transparency=0)


# ---------------------------------------------------------------- the corpus

_wav16 = lambda: sndfile(tone(1.0, 16_000), 16_000, "WAV", "PCM_16")  # noqa: E731
_mp3 = lambda: mp3(varying(44_100), 44_100)  # noqa: E731
_flac = lambda: sndfile(tone(2.0, 44_100), 44_100, "FLAC", "PCM_16")  # noqa: E731
_jpeg = lambda: pillow(photo(), "JPEG")  # noqa: E731
_png = lambda: pillow(photo(), "PNG")  # noqa: E731

CORPUS: list[CorpusFile] = [
    # WAV: every sample width, metadata chunks, a few bytes short, cut in half
    CorpusFile("wav 8-bit unsigned 8 kHz mono", lambda: sndfile(tone(1.0, 8_000), 8_000, "WAV", "PCM_U8"),
               Captioned("audio", "wav", 1.0)),
    CorpusFile("wav 16-bit 16 kHz mono", _wav16, Captioned("audio", "wav", 1.0)),
    CorpusFile("wav 24-bit 48 kHz stereo", lambda: sndfile(tone(1.0, 48_000, 2), 48_000, "WAV", "PCM_24"),
               Captioned("audio", "wav", 1.0)),
    CorpusFile("wav 32-bit float 44.1 kHz", lambda: sndfile(tone(1.0, 44_100), 44_100, "WAV", "FLOAT"),
               Captioned("audio", "wav", 1.0)),
    CorpusFile("wav with LIST/INFO chunk", lambda: sndfile(tone(1.0, 16_000), 16_000, "WAV", "PCM_16",
                                                            title="Bell", artist="cgcap"),
               Captioned("audio", "wav", 1.0)),
    CorpusFile("wav data chunk 7 bytes short", lambda: _wav16()[:-7],
               Captioned("audio", "wav", 1.0, warning="its header declares 32,044 bytes, 32,037 arrived (0.02% missing)")),
    CorpusFile("wav cut to half", lambda: cut(_wav16(), 0.5), Refused(422, "truncated: its header declares 32,044 bytes")),
    CorpusFile("wav header then noise", lambda: noise_after(_wav16(), 12), Refused(422, "not a readable wav file")),
    CorpusFile("wav of digital silence", lambda: sndfile(np.zeros(16_000, np.float32), 16_000, "WAV", "PCM_16"),
               Refused(422, "is silent")),
    # MP3: tags, broken tag lengths, VBR with and without a length header, cut off
    CorpusFile("mp3 vbr 44.1 kHz with xing header", _mp3, Captioned("audio", "mp3", 3.0)),
    CorpusFile("mp3 vbr without length header", lambda: without_length_header(_mp3()), Captioned("audio", "mp3", 3.0)),
    CorpusFile("mp3 8 kHz mono", lambda: mp3(tone(1.0, 8_000), 8_000), Captioned("audio", "mp3", 1.0)),
    CorpusFile("mp3 48 kHz stereo", lambda: mp3(tone(1.0, 48_000, 2), 48_000), Captioned("audio", "mp3", 1.0)),
    CorpusFile("mp3 with id3v2 tag", lambda: id3v2() + _mp3(), Captioned("audio", "mp3", 3.0)),
    CorpusFile("mp3 with id3v1 tag", lambda: _mp3() + ID3V1, Captioned("audio", "mp3", 3.0)),
    CorpusFile("mp3 with id3v2 and id3v1 tags", lambda: id3v2() + _mp3() + ID3V1, Captioned("audio", "mp3", 3.0)),
    CorpusFile("mp3 with cover art, no length header", lambda: id3v2_with_cover_art() + without_length_header(_mp3()),
               Captioned("audio", "mp3", 3.0)),
    CorpusFile("mp3 with id3v2 tag declaring length 0", lambda: id3v2(size=0) + _mp3(),
               Captioned("audio", "mp3", 3.0, warning="libsndfile could not read it (Format not recognised")),
    CorpusFile("mp3 with id3v2 tag longer than the file", lambda: id3v2(size=1_000_000) + _mp3(),
               Refused(422, "Format not recognised.; FFmpeg says it is not a readable mp3 file")),
    CorpusFile("mp3 missing its last 4%", lambda: cut(_mp3(), 0.96), Captioned("audio", "mp3", 2.9, warning="truncated")),
    CorpusFile("mp3 cut to half", lambda: cut(_mp3(), 0.5), Refused(422, "truncated: decoded 1.70 s of the 3.00 s")),
    CorpusFile("mp3 tag then noise", lambda: noise_after(id3v2(size=0) + _mp3(), 30), Refused(422, "mp3")),
    # Other codecs and containers
    CorpusFile("ogg vorbis 22.05 kHz", lambda: sndfile(tone(1.0, 22_050), 22_050, "OGG", "VORBIS"),
               Captioned("audio", "ogg", 1.0)),
    CorpusFile("opus 48 kHz stereo", lambda: sndfile(tone(1.0, 48_000, 2), 48_000, "OGG", "OPUS"),
               Captioned("audio", "opus", 1.0)),
    CorpusFile("opus 8 kHz mono", lambda: sndfile(tone(1.0, 8_000), 8_000, "OGG", "OPUS"), Captioned("audio", "opus", 1.0)),
    CorpusFile("flac 16-bit 44.1 kHz", _flac, Captioned("audio", "flac", 2.0)),
    CorpusFile("flac 24-bit 48 kHz stereo", lambda: sndfile(tone(1.0, 48_000, 2), 48_000, "FLAC", "PCM_24"),
               Captioned("audio", "flac", 1.0)),
    CorpusFile("flac missing its last 4%", lambda: cut(_flac(), 0.96),
               Captioned("audio", "flac", 1.86, warning="decoded with FFmpeg instead")),
    CorpusFile("flac cut to half", lambda: cut(_flac(), 0.5), Refused(422, "flac decoder lost sync")),
    CorpusFile("flac header then noise", lambda: noise_after(_flac(), 64), Refused(422, "FFmpeg says it")),
    CorpusFile("m4a aac 44.1 kHz stereo", lambda: m4a(tone(1.0, 44_100, 2), 44_100), Captioned("audio", "m4a", 1.0)),
    CorpusFile("m4a aac 8 kHz mono", lambda: m4a(tone(1.0, 8_000), 8_000), Captioned("audio", "m4a", 1.0)),
    # Images
    CorpusFile("jpeg cmyk", lambda: pillow(photo().convert("CMYK"), "JPEG", quality=95),
               Captioned("image", "jpeg", picture="photo")),
    CorpusFile("jpeg progressive", lambda: pillow(photo(), "JPEG", quality=95, progressive=True),
               Captioned("image", "jpeg", picture="photo")),
    CorpusFile("jpeg greyscale", lambda: pillow(photo().convert("L"), "JPEG", quality=95),
               Captioned("image", "jpeg", picture="grey photo")),
    CorpusFile("png 16-bit greyscale", lambda: pillow(Image.fromarray(np.asarray(photo().convert("L")).astype(np.uint16)
                                                                      * 257), "PNG"),
               Captioned("image", "png", picture="grey photo")),
    CorpusFile("png 16-bit rgb", lambda: png_16bit(np.asarray(photo()).astype(np.uint16) * 257),
               Captioned("image", "png", picture="photo")),
    CorpusFile("png palette", lambda: pillow(photo().quantize(256), "PNG"), Captioned("image", "png", picture="photo")),
    CorpusFile("png palette with transparency", palette_with_transparency,
               Captioned("image", "png", picture="red and white")),
    CorpusFile("png rgba", lambda: pillow(half_transparent(), "PNG"), Captioned("image", "png", picture="red and white")),
    CorpusFile("webp lossy", lambda: pillow(photo(), "WEBP", quality=95), Captioned("image", "webp", picture="photo")),
    CorpusFile("webp lossless with alpha", lambda: pillow(half_transparent(), "WEBP", lossless=True),
               Captioned("image", "webp", picture="red and white")),
    # Cut images: a JPEG or PNG missing at most the shared fraction of its pixel rows is captioned
    CorpusFile("jpeg missing its end marker", lambda: _jpeg()[:-2],
               Captioned("image", "jpeg", picture="photo", warning="ends early; 300 of its 300 pixel rows decoded")),
    CorpusFile("jpeg missing its last 5%", lambda: cut(_jpeg(), 0.95),
               Captioned("image", "jpeg", picture="photo", rows=288,
                         warning="289 of its 300 pixel rows decoded (3.67% missing)")),
    CorpusFile("jpeg progressive missing its last 10%", lambda: cut(pillow(photo(), "JPEG", progressive=True), 0.9),
               Captioned("image", "jpeg", picture="photo", warning="(progressive: they may lack detail)")),
    CorpusFile("jpeg progressive cut in its first scan", lambda: pillow(photo(), "JPEG", progressive=True)[:1000],
               Refused(422, "truncated: the jpeg file ends early; 160 of its 300 pixel rows decoded")),
    CorpusFile("jpeg cut to 85%", lambda: cut(_jpeg(), 0.85),
               Refused(422, "truncated: the jpeg file ends early; 257 of its 300 pixel rows decoded (14% missing")),
    CorpusFile("jpeg cut to half", lambda: cut(_jpeg(), 0.5), Refused(422, "(52% missing; at most 10% may be)")),
    CorpusFile("png missing its IEND chunk", lambda: _png()[:-12],
               Captioned("image", "png", picture="photo", warning="ends without its IEND chunk")),
    CorpusFile("png missing its last 5%", lambda: cut(_png(), 0.95),
               Captioned("image", "png", picture="photo", rows=280,
                         warning="280 of its 300 pixel rows decoded (6.67% missing)")),
    CorpusFile("png cut to 80%", lambda: cut(_png(), 0.8),
               Refused(422, "truncated: the png file ends early; 233 of its 300 pixel rows decoded (22% missing")),
    CorpusFile("gif", lambda: pillow(photo(), "GIF"), Refused(415, "not a recognised audio, image or video file")),
]
