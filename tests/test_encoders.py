"""Modality encoders: stable unit embeddings, window and frame averaging, input scorers, real loading paths."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from cgcap.config import LimitSettings
from cgcap.data.media import DecodedMedia, MediaError, decode_media
from cgcap.data.media_synth import audio_bytes, image_bytes, ramp_frames, tone, video_bytes
from cgcap.encoders import ClapAudioEncoder, OpenClipImageEncoder, input_scorer, load_encoder, split_windows
from cgcap.models import ModelNotFoundError, load

TEXTS = ["a dog barks", "rain on a tin roof", "a", "an orchestra tunes up before the concert begins", "birds"]


@pytest.fixture(scope="module")
def audio_encoder() -> ClapAudioEncoder:
    return load_encoder("tiny:clap")


@pytest.fixture(scope="module")
def image_encoder() -> OpenClipImageEncoder:
    return load_encoder("tiny:clip")


@pytest.fixture(scope="module")
def chirps() -> np.ndarray:
    """5 s at 16 kHz: a different tone each second, so every 2 s window sounds different."""
    return np.concatenate([tone(f, 1.0, 16_000) for f in (300, 700, 1500, 3000, 5000)])


def audio_media(samples: np.ndarray, sample_rate: int = 16_000) -> DecodedMedia:
    return DecodedMedia("audio", "wav", audio=samples, sample_rate=sample_rate, duration_seconds=len(samples) / sample_rate)


def unit(vector: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(vector, dim=-1)


def state(model) -> dict[str, torch.Tensor]:
    return model.state_dict()


# ---------------------------------------------------------------- tiny models


@pytest.mark.parametrize("spec", ["tiny:clap", "tiny:clip"])
def test_tiny_encoders_are_identical_across_builds_and_differ_by_seed(spec):
    first, second, other_seed = state(load(spec).model), state(load(spec).model), state(load(f"{spec}@1").model)

    assert first.keys() == second.keys() == other_seed.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not all(torch.equal(first[name], other_seed[name]) for name in first)


# ---------------------------------------------------------------- audio


def test_the_same_audio_file_gives_the_same_unit_vector_every_time(audio_encoder):
    data = audio_bytes(tone(440, 1.5, 22_050), 22_050, "flac")

    first = audio_encoder.embed_input(decode_media(data, LimitSettings()))
    again = load_encoder("tiny:clap").embed_input(decode_media(data, LimitSettings()))

    assert torch.equal(first, again)
    assert first.dtype == torch.float32 and first.norm().item() == pytest.approx(1.0, abs=1e-5)


def test_a_long_clip_embeds_as_the_mean_of_its_windows(audio_encoder, chirps):
    four_seconds = chirps[:64_000]  # exactly two of tiny:clap's 2 s windows
    first_window = audio_encoder.embed_input(audio_media(four_seconds[:32_000]))
    second_window = audio_encoder.embed_input(audio_media(four_seconds[32_000:]))

    whole = audio_encoder.embed_input(audio_media(four_seconds))

    torch.testing.assert_close(whole, unit(first_window + second_window), atol=1e-5, rtol=0)
    assert (first_window @ second_window).item() < 0.999  # the windows differ, so the mean is a real blend


def test_a_short_last_window_counts_by_its_length(audio_encoder, chirps):
    windows = [audio_encoder.embed_input(audio_media(chirps[start:start + 32_000])) for start in (0, 32_000, 64_000)]

    whole = audio_encoder.embed_input(audio_media(chirps))  # 5 s: windows of 2, 2 and 1 s

    torch.testing.assert_close(whole, unit(0.4 * windows[0] + 0.4 * windows[1] + 0.2 * windows[2]), atol=1e-5, rtol=0)


def test_split_windows_covers_the_clip_once_with_length_weights():
    waveform = np.arange(10, dtype=np.float32)

    windows, weights = split_windows(waveform, 4)

    np.testing.assert_array_equal(np.concatenate(windows), waveform)
    assert [len(w) for w in windows] == [4, 4, 2]
    np.testing.assert_allclose(weights, [0.4, 0.4, 0.2])


def test_windows_embedded_together_match_windows_embedded_alone(audio_encoder, chirps):
    windows = [chirps[:32_000], chirps[32_000:64_000], chirps[64_000:]]

    together = audio_encoder.embed_windows(windows)
    alone = torch.cat([audio_encoder.embed_windows([window]) for window in windows])

    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_audio_at_another_rate_is_resampled_to_the_models_rate(audio_encoder):
    at_model_rate = audio_encoder.embed_input(audio_media(tone(440, 1.5, 16_000)))
    noise = np.random.default_rng(0).normal(0, 0.3, 24_000).astype(np.float32)
    at_cd_rate = audio_encoder.embed_input(audio_media(tone(440, 1.5, 44_100), 44_100))
    unresampled = audio_encoder.embed_input(audio_media(tone(440 * 44_100 / 16_000, 1.5, 16_000)))

    assert audio_encoder.sample_rate == 16_000
    assert (at_cd_rate @ at_model_rate).item() > 0.9999
    # Read at the wrong rate the tone would be 1213 Hz; resampled, it is not that sound.
    assert (at_cd_rate @ at_model_rate).item() > (at_cd_rate @ unresampled).item()
    assert (at_cd_rate @ at_model_rate).item() > (at_cd_rate @ audio_encoder.embed_input(audio_media(noise))).item()


def test_media_without_sound_is_refused_by_the_audio_encoder(audio_encoder):
    photo = decode_media(image_bytes(skimage.data.astronaut(), "png"), LimitSettings())

    with pytest.raises(MediaError, match="no sound track"):
        audio_encoder.embed_input(photo)


# ---------------------------------------------------------------- texts


@pytest.mark.parametrize("which", ["audio", "image"])
def test_texts_embedded_in_batches_match_texts_embedded_alone(which, audio_encoder, image_encoder):
    encoder = {"audio": audio_encoder, "image": image_encoder}[which]
    encoder.text_batch_size = 2  # 5 texts of different lengths: three padded batches
    try:
        batched = encoder.embed_texts(TEXTS)
    finally:
        encoder.text_batch_size = 256
    alone = torch.cat([encoder.embed_texts([text]) for text in TEXTS])

    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched.norm(dim=-1), torch.ones(len(TEXTS)))
    assert not batched.is_inference()  # usable in the decoder's autograd graph


def test_different_texts_get_different_embeddings(audio_encoder, image_encoder):
    for encoder in (audio_encoder, image_encoder):
        embedded = encoder.embed_texts(TEXTS[:2])
        assert (embedded[0] @ embedded[1]).item() < 0.9999


# ---------------------------------------------------------------- images and video


def test_the_same_photo_gives_the_same_unit_vector_and_another_photo_another(image_encoder):
    chelsea = decode_media(image_bytes(skimage.data.chelsea(), "jpeg"), LimitSettings())
    rocket = decode_media(image_bytes(skimage.data.rocket(), "jpeg"), LimitSettings())

    first, again = image_encoder.embed_input(chelsea), load_encoder("tiny:clip").embed_input(chelsea)

    assert torch.equal(first, again)
    assert first.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert (first @ image_encoder.embed_input(rocket)).item() < 0.9999


def test_a_video_embeds_as_the_mean_of_its_sampled_frames(image_encoder):
    video = decode_media(video_bytes(ramp_frames(20, 96, 96)), LimitSettings(), video_frames=4)
    frames = [image_encoder.embed_input(DecodedMedia("image", "png", image=frame)) for frame in video.frames]

    whole = image_encoder.embed_input(video)

    torch.testing.assert_close(whole, unit(torch.stack(frames).mean(dim=0)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("spec, sample", [("tiny:clap", "bell.flac"), ("tiny:clip", "chelsea.jpg")])
def test_half_precision_encoders_agree_with_full_precision(spec, sample):
    # A GPU runs the encoders in float16; the CPU can too, which checks every input is cast.
    from importlib.resources import files

    media = decode_media((files("cgcap") / "samples" / sample).read_bytes(), LimitSettings())
    full, half = load_encoder(spec), load_encoder(spec, dtype=torch.float16)

    assert half.dtype == torch.float16 and next(half.model.parameters()).dtype == torch.float16
    for full_vectors, half_vectors in [(full.embed_input(media), half.embed_input(media)),
                                       (full.embed_texts(TEXTS), half.embed_texts(TEXTS))]:
        assert half_vectors.dtype == torch.float32
        torch.testing.assert_close(half_vectors, full_vectors, atol=3e-3, rtol=0)


# ---------------------------------------------------------------- input scorers


@pytest.fixture(scope="module")
def talking_video() -> DecodedMedia:
    data = video_bytes(ramp_frames(20, 96, 96), audio=tone(440, 2.0, 16_000), audio_rate=16_000)
    return decode_media(data, LimitSettings(), "clip.mp4", video_frames=4)


def test_the_audio_scorer_is_the_cosine_of_input_and_candidate_texts(audio_encoder):
    media = audio_media(tone(440, 1.5, 16_000))

    scores = input_scorer(media, {"audio": audio_encoder}).score(TEXTS)

    expected = audio_encoder.embed_texts(TEXTS) @ audio_encoder.embed_input(media)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)


def test_video_modes_score_by_frames_sound_or_the_mean_of_both(audio_encoder, image_encoder, talking_video):
    encoders = {"audio": audio_encoder, "image": image_encoder}
    by_frames = image_encoder.embed_texts(TEXTS) @ image_encoder.embed_input(talking_video)
    by_sound = audio_encoder.embed_texts(TEXTS) @ audio_encoder.embed_input(talking_video)

    torch.testing.assert_close(input_scorer(talking_video, encoders, "image").score(TEXTS), by_frames, atol=1e-5, rtol=0)
    torch.testing.assert_close(input_scorer(talking_video, encoders, "audio").score(TEXTS), by_sound, atol=1e-5, rtol=0)
    torch.testing.assert_close(input_scorer(talking_video, encoders, "both").score(TEXTS), (by_frames + by_sound) / 2,
                               atol=1e-5, rtol=0)


def test_a_silent_video_is_guided_by_its_frames_and_refused_in_audio_mode(audio_encoder, image_encoder):
    silent = decode_media(video_bytes(ramp_frames(10, 96, 96)), LimitSettings(), video_frames=2)
    encoders = {"audio": audio_encoder, "image": image_encoder}

    both = input_scorer(silent, encoders, "both").score(TEXTS)

    torch.testing.assert_close(both, input_scorer(silent, encoders, "image").score(TEXTS))
    with pytest.raises(MediaError, match="no audible sound track") as caught:
        input_scorer(silent, encoders, "audio")
    assert caught.value.status_code == 422


def test_input_scorer_names_a_missing_encoder_or_an_unknown_video_mode(image_encoder, talking_video):
    with pytest.raises(ValueError, match="no audio encoder is loaded"):
        input_scorer(audio_media(tone(440, 1.0, 16_000)), {"image": image_encoder})
    with pytest.raises(ValueError, match="video_mode must be one of image, audio, both"):
        input_scorer(talking_video, {"image": image_encoder}, "frames")


# ---------------------------------------------------------------- real loading paths


def test_a_saved_clap_folder_loads_through_from_pretrained_with_the_same_embeddings(tmp_path, audio_encoder):
    # The paper profile's laion/clap-htsat-unfused goes through this same from_pretrained code.
    tiny = load("tiny:clap")
    tiny.model.save_pretrained(tmp_path)
    tiny.processor.save_pretrained(tmp_path)
    media = audio_media(tone(440, 3.0, 16_000))

    folder = load_encoder(str(tmp_path))

    assert isinstance(folder, ClapAudioEncoder) and folder.window_seconds == 2.0
    torch.testing.assert_close(folder.embed_input(media), audio_encoder.embed_input(media), atol=1e-6, rtol=0)
    torch.testing.assert_close(folder.embed_texts(TEXTS), audio_encoder.embed_texts(TEXTS), atol=1e-6, rtol=0)


def test_an_open_clip_checkpoint_loads_with_the_same_embeddings(tmp_path, image_encoder):
    from safetensors.torch import save_file

    save_file(load("tiny:clip").model.state_dict(), tmp_path / "open_clip_model.safetensors")
    photo = decode_media(image_bytes(skimage.data.coffee(), "png"), LimitSettings())

    checkpoint = load_encoder(f"open_clip:cgcap-tiny-clip@{tmp_path / 'open_clip_model.safetensors'}")

    torch.testing.assert_close(checkpoint.embed_input(photo), image_encoder.embed_input(photo), atol=1e-6, rtol=0)
    torch.testing.assert_close(checkpoint.embed_texts(TEXTS), image_encoder.embed_texts(TEXTS), atol=1e-6, rtol=0)


def test_a_hub_clap_without_a_hub_fails_fast_saying_how_to_get_it():
    with pytest.raises(ModelNotFoundError, match="hf download laion/clap-htsat-unfused"):
        load_encoder("laion/clap-htsat-unfused")


def test_a_model_that_is_not_an_encoder_is_refused():
    with pytest.raises(ModelNotFoundError, match="'tiny:gpt2' is a causal-lm model, not a modality encoder"):
        load_encoder("tiny:gpt2")
