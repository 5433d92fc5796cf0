"""A video captions end to end (tiny models): frames and sound track guide it as media.video_mode says."""

from __future__ import annotations

from importlib.resources import files

import pytest

from cgcap.captioner import Captioner
from cgcap.config import load_settings
from cgcap.data.media import MediaError
from cgcap.data.media_synth import ramp_frames, video_bytes


@pytest.fixture(scope="module")
def cat_bell() -> bytes:
    return (files("cgcap") / "samples" / "cat_bell.mp4").read_bytes()


@pytest.fixture(scope="module")
def tiny() -> Captioner:
    return Captioner.from_settings(load_settings("tiny"))


def captioner_in_mode(tiny: Captioner, mode: str) -> Captioner:
    """The tiny captioner's models under another media.video_mode (loaded once for the module)."""
    settings = load_settings("tiny", overrides=[f"media.video_mode={mode}"])
    return Captioner(settings, tiny.lm, tiny.classifier, tiny.encoders)


@pytest.mark.parametrize("mode, encoders", [("both", {"audio_encoder", "image_encoder"}),
                                            ("image", {"image_encoder"}), ("audio", {"audio_encoder"})])
def test_a_video_is_captioned_with_the_encoders_its_video_mode_names(tiny, cat_bell, mode, encoders):
    captioner = captioner_in_mode(tiny, mode)

    result = captioner.caption(cat_bell, filename="cat_bell.mp4")

    assert result.modality == "video" and result.input == "cat_bell.mp4"
    assert {key for key in result.model_ids if key.endswith("_encoder")} == encoders
    assert result.caption.strip()


def test_a_video_without_sound_in_audio_mode_is_refused_as_bad_input(tiny):
    captioner = captioner_in_mode(tiny, "audio")

    with pytest.raises(MediaError, match="no audible sound track") as caught:
        captioner.caption(video_bytes(ramp_frames(10)), filename="mute.mp4")
    assert caught.value.status_code == 422
