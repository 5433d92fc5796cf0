"""Request options: validated like settings, capped by the service's limits, video track from settings."""

import pytest

from cgcap.config import load_settings
from cgcap.serving.options import parse_options, video_mode


def test_limits_apply_to_numbers_sent_as_strings():
    settings = load_settings("tiny")
    with pytest.raises(Exception) as refused:
        parse_options({"max_tokens": str(settings.serve.max_tokens + 1)}, settings)
    assert "max_tokens" in str(refused.value) and "limit" in str(refused.value)
    assert parse_options({"max_tokens": "3"}, settings).decoding.max_tokens == 3


def test_video_track_follows_settings_unless_the_request_picks_one():
    settings = load_settings("tiny", overrides=["media.video_mode=image"])
    assert video_mode(parse_options({}, settings)) == "image"
    assert video_mode(parse_options({"modality": "audio"}, settings)) == "audio"
    assert video_mode(parse_options({}, load_settings("tiny"))) == load_settings("tiny").media.video_mode
