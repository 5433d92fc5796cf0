"""Each modality continues its own prompt (the papers': "Image of a", "Audio of a")."""

from pathlib import Path

import pytest

from cgcap.captioner import Captioner
from cgcap.config import load_settings
from cgcap.decoding.articles import indefinite_article, split_prompt, with_article, without_prompt
from cgcap.decoding.plan import settings_for_modalities
from cgcap.metrics.grounding import count_real_words, names_content

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


@pytest.mark.parametrize("word, article", [
    ("alarm", "an"), ("espresso", "an"), ("owl", "an"), ("engine", "an"), ("hour", "an"), ("honest", "an"),
    ("MRI", "an"), ("X-ray", "a"), ("uninvited", "an"), ("umbrella", "an"), ("8-bit", "an"),
    ("bell", "a"), ("unicorn", "a"), ("European", "a"), ("one-way", "a"), ("ukulele", "a"), ("UFO", "a"),
    ("user", "a"), ("horse", "a"), ("", "a"),
])
def test_the_article_follows_how_the_next_word_is_said(word, article):
    assert indefinite_article(word) == article


def test_the_prompts_a_is_written_an_before_a_vowel_sound_and_the_prompt_is_still_found():
    assert with_article("Audio of a alarm clock ringing.", "Audio of a") == "Audio of an alarm clock ringing."
    assert with_article("Image of a espresso.", "Image of a") == "Image of an espresso."
    assert with_article("Audio of a bell.", "Audio of a") == "Audio of a bell."
    assert with_article("Audio of abell.", "Audio of a") == "Audio of abell."  # glued: no word of its own
    assert with_article("A photo of owls.", "A photo of") == "A photo of owls."  # the prompt does not end in "a"
    assert split_prompt("Audio of an alarm.", "Audio of a") == ("Audio of an", "alarm.")
    assert split_prompt("Audio of animal.", "Audio of a") == ("Audio of a", "nimal.")  # "an" + letters: not the article
    assert without_prompt("Image of an espresso.", "Image of a") == "espresso."
    # The grounding metrics read the words after the prompt as written: "an" is not a word the decoder chose.
    assert names_content("Audio of an alarm.", ["alarm"], "Audio of a")
    assert count_real_words("Audio of an alarm.", "Audio of a") == (1, 1)


def test_images_use_their_own_beam_count_and_audio_keeps_its_own():
    decoding = load_settings("paper").decoding
    assert settings_for_modalities(decoding, ["image"]).beam_size == 5
    assert settings_for_modalities(decoding, ["audio"]).beam_size == 1


def test_image_caption_searches_image_beam_size_beams(captioner):
    result = captioner.caption(SAMPLES / "chelsea.jpg")
    assert len(result.beams) == captioner.settings.decoding.image_beam_size == 2
    assert result.settings["decoding"]["beam_size"] == 2
