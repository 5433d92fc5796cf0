"""decode_media: real audio, image and video files in, decoded media or a clear 4xx refusal out."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import skimage.data
from PIL import Image

from cgcap.config import LimitSettings
from cgcap.data.media import (
    CorruptMedia,
    MediaError,
    MediaTooLarge,
    MediaTooLong,
    SilentAudio,
    UnsupportedMediaType,
    decode_media,
)
from cgcap.data.media_synth import audio_bytes, image_bytes, ramp_frames, tone, video_bytes

LIMITS = LimitSettings()


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sample_rate)[np.argmax(spectrum)])


def refusal(source, limits=LIMITS, filename=None, **kwargs) -> MediaError:
    with pytest.raises(MediaError) as caught:
        decode_media(source, limits, filename, **kwargs)
    return caught.value


# ---------------------------------------------------------------- audio


@pytest.mark.parametrize(
    "fmt, sample_rate, frequency",
    [("wav", 16_000, 440.0), ("flac", 22_050, 660.0), ("ogg", 44_100, 880.0), ("mp3", 48_000, 1000.0),
     ("mp3", 22_050, 500.0), ("m4a", 24_000, 750.0)],
)
def test_audio_files_decode_to_the_same_tone_at_their_own_rate(fmt, sample_rate, frequency):
    data = audio_bytes(tone(frequency, 1.5, sample_rate), sample_rate, fmt)

    media = decode_media(data, LIMITS, f"clip.{fmt}")

    assert (media.modality, media.format, media.sample_rate) == ("audio", fmt, sample_rate)
    assert media.audio.ndim == 1 and media.audio.dtype == np.float32
    assert media.duration_seconds == pytest.approx(1.5, abs=0.1)  # codecs pad a few ms
    assert dominant_frequency(media.audio, sample_rate) == pytest.approx(frequency, rel=0.02)
    assert np.max(np.abs(media.audio)) == pytest.approx(0.3, abs=0.05)


def test_stereo_audio_is_mixed_down_to_the_mean_of_its_channels():
    left = tone(440, 1.0, 8_000, amplitude=0.4)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)

    media = decode_media(audio_bytes(stereo, 8_000, "wav"), LIMITS)

    assert media.audio.shape == (8_000,)
    np.testing.assert_allclose(media.audio, left / 2, atol=1e-3)


def test_audio_is_resampled_at_decode_when_a_rate_is_asked_for():
    media = decode_media(audio_bytes(tone(1000, 2.0, 44_100), 44_100, "flac"), LIMITS, sample_rate=16_000)

    assert media.sample_rate == 16_000
    assert len(media.audio) == 32_000
    assert dominant_frequency(media.audio, 16_000) == pytest.approx(1000, rel=0.01)


def test_audio_decodes_from_a_path_as_from_bytes(tmp_path):
    data = audio_bytes(tone(440, 1.0, 16_000), 16_000, "ogg")
    path = tmp_path / "bell.ogg"
    path.write_bytes(data)

    from_path = decode_media(path, LIMITS)
    from_bytes = decode_media(data, LIMITS)

    assert from_path.filename == "bell.ogg"
    np.testing.assert_array_equal(from_path.audio, from_bytes.audio)


def test_silent_audio_is_refused_with_422():
    error = refusal(audio_bytes(np.zeros(16_000, np.float32), 16_000, "wav"), filename="quiet.wav")

    assert isinstance(error, SilentAudio) and error.status_code == 422
    assert "'quiet.wav' is silent" in str(error)


def test_audio_longer_than_the_limit_is_refused_from_its_header():
    limits = LimitSettings(max_audio_seconds=2.0)

    error = refusal(audio_bytes(tone(440, 3.0, 16_000), 16_000, "flac"), limits)

    assert isinstance(error, MediaTooLong) and error.status_code == 422
    assert "3.0 s" in str(error) and "limit is 2 s" in str(error)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_truncated_audio_is_refused_with_422(fmt):
    data = audio_bytes(tone(440, 2.0, 22_050), 22_050, fmt)

    error = refusal(data[: len(data) // 2], filename=f"cut.{fmt}")

    assert isinstance(error, CorruptMedia) and error.status_code == 422
    assert "cut." in str(error)


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_corrupt_audio_is_refused_with_422(fmt):
    data = audio_bytes(tone(440, 1.0, 22_050), 22_050, fmt)
    noise = np.random.default_rng(0).integers(0, 256, len(data) - 64, dtype=np.uint8).tobytes()

    error = refusal(data[:64] + noise)

    assert isinstance(error, CorruptMedia) and error.status_code == 422


def test_a_wav_header_without_samples_is_refused_as_empty():
    header_only = audio_bytes(np.zeros(0, np.float32), 16_000, "wav")

    error = refusal(header_only)

    assert error.status_code == 422 and "no audio samples" in str(error)


# ---------------------------------------------------------------- type detection and size


def test_the_type_comes_from_the_content_not_the_file_name():
    wav = audio_bytes(tone(440, 1.0, 16_000), 16_000, "wav")
    png = image_bytes(skimage.data.chelsea(), "png")

    assert decode_media(wav, LIMITS, "song.mp3").format == "wav"
    assert decode_media(png, LIMITS, "sound.wav").modality == "image"


@pytest.mark.parametrize(
    "data",
    [b"just some text, not media\n" * 10, b"%PDF-1.7\n" + bytes(200), b"GIF89a" + bytes(200)],
    ids=["text", "pdf", "gif"],
)
def test_unrecognised_content_is_refused_with_415_naming_the_file(data):
    error = refusal(data, filename="notes.wav")

    assert isinstance(error, UnsupportedMediaType) and error.status_code == 415
    assert "'notes.wav'" in str(error) and "its name says .wav" in str(error)


def test_empty_upload_is_refused_with_422():
    error = refusal(b"", filename="nothing.wav")

    assert isinstance(error, CorruptMedia) and error.status_code == 422 and "empty" in str(error)


def test_upload_over_the_byte_limit_is_refused_with_413(tmp_path):
    data = audio_bytes(tone(440, 1.0, 16_000), 16_000, "wav")
    limits = LimitSettings(max_upload_bytes=1000)
    path = tmp_path / "big.wav"
    path.write_bytes(data)

    for source in (data, path):
        error = refusal(source, limits, filename="big.wav")
        assert isinstance(error, MediaTooLarge) and error.status_code == 413
        assert f"{len(data):,} bytes" in str(error) and "1,000" in str(error)


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_photos_decode_to_rgb_with_their_pixels(fmt):
    chelsea = skimage.data.chelsea()  # 300 x 451 RGB

    media = decode_media(image_bytes(chelsea, fmt, quality=95), LIMITS, f"chelsea.{fmt}")

    assert (media.modality, media.format, media.image.mode) == ("image", fmt, "RGB")
    assert media.image.size == (451, 300)
    error = np.abs(np.asarray(media.image, dtype=np.int16) - chelsea).mean()
    assert error == 0 if fmt == "png" else error < 4


def test_grayscale_photo_becomes_rgb_with_equal_channels():
    camera = skimage.data.camera()  # 512 x 512 grayscale

    image = decode_media(image_bytes(camera, "png"), LIMITS).image

    pixels = np.asarray(image)
    assert image.mode == "RGB"
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], camera)


def test_transparent_pixels_are_flattened_onto_white():
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[:, :10] = (200, 0, 0, 255)  # opaque red left half, fully transparent right half

    pixels = np.asarray(decode_media(image_bytes(rgba, "png"), LIMITS).image)

    assert tuple(pixels[5, 2]) == (200, 0, 0)
    assert tuple(pixels[5, 15]) == (255, 255, 255)


def test_exif_orientation_is_applied():
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high
    stored[:, :20] = (255, 0, 0)  # left half red
    stored[:, 20:] = (0, 0, 255)  # right half blue

    # Orientation 6: the camera was turned; a viewer rotates 90 degrees clockwise.
    image = decode_media(image_bytes(stored, "jpeg", exif_orientation=6, quality=100), LIMITS).image

    pixels = np.asarray(image).astype(int)
    assert image.size == (20, 40)
    assert pixels[5, 10, 0] > 200 and pixels[5, 10, 2] < 50  # top: red
    assert pixels[35, 10, 2] > 200 and pixels[35, 10, 0] < 50  # bottom: blue


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header then claims a huge size: a decompression bomb's shape."""
    data = image_bytes(np.zeros((1, 1, 3), np.uint8), "png")
    ihdr = data[12:16] + struct.pack(">II", width, height) + data[24:29]
    return data[:8] + data[8:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


@pytest.mark.parametrize("width, height, shown", [(10_000, 5_000, "10000x5000"), (100_000, 100_000, "10000000000")])
def test_too_many_pixels_is_refused_from_the_header_before_decoding(width, height, shown):
    # The file is a few bytes; decoding its claimed pixels would need gigabytes.
    error = refusal(_png_claiming(width, height), filename="bomb.png")

    assert isinstance(error, MediaTooLarge) and error.status_code == 413
    assert "'bomb.png'" in str(error) and shown in str(error) and "40,000,000" in str(error)


def test_the_pixel_limit_is_a_setting():
    photo = image_bytes(skimage.data.astronaut(), "jpeg")  # 512 x 512

    error = refusal(photo, LimitSettings(max_image_pixels=512 * 511))

    assert isinstance(error, MediaTooLarge) and "262,144 pixels" in str(error)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_truncated_images_are_refused_with_422(fmt):
    data = image_bytes(skimage.data.astronaut(), fmt)

    error = refusal(data[: len(data) // 2], filename=f"half.{fmt}")

    assert isinstance(error, CorruptMedia) and error.status_code == 422 and "'half." in str(error)


def test_an_image_with_a_garbled_header_is_refused_with_422():
    data = image_bytes(skimage.data.astronaut(), "jpeg")

    error = refusal(data[:4] + bytes(len(data) - 4))

    assert isinstance(error, CorruptMedia) and error.status_code == 422


# ---------------------------------------------------------------- video


def test_video_frames_are_sampled_evenly_and_its_sound_track_decoded():
    frames = ramp_frames(30)  # 3 s at 10 fps, red rising with time
    data = video_bytes(frames, fps=10, audio=tone(440, 3.0, 16_000), audio_rate=16_000)

    media = decode_media(data, LIMITS, "clip.mp4", video_frames=3)

    assert (media.modality, media.format) == ("video", "mp4")
    assert media.duration_seconds == pytest.approx(3.0, abs=0.05)
    assert len(media.frames) == 3 and all(frame.mode == "RGB" for frame in media.frames)
    # Centres of three equal segments: 0.5 s, 1.5 s, 2.5 s -> frames 5, 15, 25.
    reds = [int(np.asarray(frame)[..., 0].mean()) for frame in media.frames]
    assert reds == pytest.approx([255 * 5 / 30, 255 * 15 / 30, 255 * 25 / 30], abs=8)
    assert media.sample_rate == 16_000
    assert dominant_frequency(media.audio, 16_000) == pytest.approx(440, rel=0.02)


def test_video_without_sound_has_no_audio_track():
    media = decode_media(video_bytes(ramp_frames(10), fmt="webm", codec="libvpx-vp9"), LIMITS, video_frames=2)

    assert (media.modality, media.format, media.audio) == ("video", "webm", None)
    assert len(media.frames) == 2


def test_a_silent_sound_track_is_dropped_and_the_frames_kept():
    data = video_bytes(ramp_frames(10), audio=np.zeros(16_000, np.float32))

    media = decode_media(data, LIMITS)

    assert media.modality == "video" and media.audio is None and len(media.frames) == 8


def test_video_longer_than_the_limit_is_refused_with_422():
    data = video_bytes(ramp_frames(30), fps=10)

    error = refusal(data, LimitSettings(max_video_seconds=2.0), "long.mp4")

    assert isinstance(error, MediaTooLong) and error.status_code == 422 and "of video" in str(error)


def test_video_frames_over_the_pixel_limit_are_refused_with_413():
    error = refusal(video_bytes(ramp_frames(5)), LimitSettings(max_image_pixels=64 * 47))

    assert isinstance(error, MediaTooLarge) and error.status_code == 413


@pytest.mark.parametrize("fmt, codec", [("mp4", "libx264"), ("webm", "libvpx-vp9")])
def test_truncated_video_is_refused_with_422(fmt, codec):
    data = video_bytes(ramp_frames(30), fmt=fmt, codec=codec)

    error = refusal(data[: len(data) // 2], filename=f"cut.{fmt}")

    assert isinstance(error, CorruptMedia) and error.status_code == 422


def test_the_bundled_samples_decode_as_audio_image_and_video():
    from importlib.resources import files

    samples = files("cgcap") / "samples"
    expected = {"bell.flac": "audio", "chelsea.jpg": "image", "cat_bell.mp4": "video"}

    for name, modality in expected.items():
        data = (samples / name).read_bytes()
        media = decode_media(data, LIMITS, name)
        assert media.modality == modality and len(data) < 150_000
    assert decode_media((samples / "cat_bell.mp4").read_bytes(), LIMITS).audio is not None
