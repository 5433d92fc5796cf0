"""Each modality continues its own prompt (the papers': "Image of a", "Audio of a")."""

from pathlib import Path

import pytest

from cgcap.captioner import Captioner
from cgcap.config import load_settings
from cgcap.decoding.prompts import settings_for_modalities, without_prompt

SAMPLES = Path(__file__).resolve().parents[1] / "cgcap" / "samples"


@pytest.fixture(scope="module")
def captioner():
    return Captioner.from_settings(load_settings("tiny", overrides=["decoding.max_tokens=2", "decoding.lambda_cls=0"]))


@pytest.mark.parametrize(
    "sample, prompt",
    [("chelsea.jpg", "Image of a"), ("bell.flac", "Audio of a"), ("cat_bell.mp4", "Image of a")],
)
def test_caption_continues_the_prompt_of_the_guiding_modality(captioner, sample, prompt):
    result = captioner.caption(SAMPLES / sample)
    assert result.prompt == prompt and result.caption.startswith(prompt)
    assert result.settings["decoding"]["prompt"] == prompt


def test_video_guided_by_its_sound_alone_continues_the_audio_prompt(captioner):
    settings = load_settings("tiny", overrides=["media.video_mode=audio", "decoding.max_tokens=2",
                                                "decoding.lambda_cls=0"])
    result = Captioner(settings, captioner.lm).caption(SAMPLES / "cat_bell.mp4")
    assert result.prompt == "Audio of a"


def test_image_prompt_is_a_setting_and_text_only_uses_the_audio_prompt(captioner):
    decoding = load_settings("tiny", overrides=["decoding.image_prompt=A photo of"]).decoding
    assert settings_for_modalities(decoding, ["image"]).prompt == "A photo of"
    assert settings_for_modalities(decoding, ["audio"]).prompt == "Audio of a"
    assert captioner.caption_text_only().prompt == "Audio of a"


def test_references_are_compared_with_the_words_after_the_prompt():
    assert without_prompt("Audio of a dog barking.", "Audio of a") == "dog barking."
    assert without_prompt("A dog barking.", "Audio of a") == "A dog barking."


def test_images_use_their_own_beam_count_and_audio_keeps_its_own():
    decoding = load_settings("paper").decoding
    assert settings_for_modalities(decoding, ["image"]).beam_size == 5
    assert settings_for_modalities(decoding, ["audio"]).beam_size == 1


def test_image_caption_searches_image_beam_size_beams(captioner):
    result = captioner.caption(SAMPLES / "chelsea.jpg")
    assert len(result.beams) == captioner.settings.decoding.image_beam_size == 2
    assert result.settings["decoding"]["beam_size"] == 2
