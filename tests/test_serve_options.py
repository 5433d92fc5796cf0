"""Request options: validated like settings, capped by the service's limits, video track from settings."""

from typing import Literal, get_args, get_origin

import pytest

from cgcap.config import DecodingSettings, ServeSettings, load_settings
from cgcap.serving.errors import RequestRejected
from cgcap.serving.options import parse_options, service_limits, video_mode


def test_limits_apply_to_numbers_sent_as_strings():
    settings = load_settings("tiny")
    with pytest.raises(RequestRejected) as refused:
        parse_options({"max_tokens": str(settings.serve.max_tokens + 1)}, settings)
    assert refused.value.field == "options.max_tokens" and "limit" in str(refused.value)
    assert parse_options({"max_tokens": "3"}, settings).decoding.max_tokens == 3


def _upper_bound(field) -> float | None:
    return next((getattr(m, "le", None) or getattr(m, "lt", None) for m in field.metadata
                 if getattr(m, "le", None) is not None or getattr(m, "lt", None) is not None), None)


@pytest.mark.parametrize("key", sorted(DecodingSettings.model_fields))
def test_every_decoding_key_is_bounded_for_a_request(key):
    """Text has a service length limit; a number has a service ceiling or its own upper bound; a choice is a choice."""
    field = DecodingSettings.model_fields[key]
    limits = service_limits(ServeSettings())
    if field.annotation is str:
        assert key in limits, f"text option {key} has no service length limit"
    elif not _is_choice(field.annotation):
        assert key in limits or _upper_bound(field) is not None, f"option {key} has no upper bound"
    if key in limits:
        assert limits[key] >= 1


def _is_choice(annotation) -> bool:
    """A switch or a fixed set of values (optionally null): nothing to cap."""
    if annotation is bool or get_origin(annotation) is Literal:
        return True
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    return bool(args) and all(_is_choice(arg) for arg in args)


def _just_above(key: str, limit: int):
    return "x" * (limit + 1) if DecodingSettings.model_fields[key].annotation is str else limit + 1


@pytest.mark.parametrize("key", sorted(service_limits(ServeSettings())))
def test_every_service_limit_refuses_one_past_it_and_names_the_key(key):
    settings = load_settings("tiny")
    limit = service_limits(settings.serve)[key]
    with pytest.raises(RequestRejected) as refused:
        parse_options({key: _just_above(key, limit)}, settings)
    assert (refused.value.status, refused.value.field) == (422, f"options.{key}")
    assert str(limit) in str(refused.value)


def test_image_beam_size_and_image_prompt_have_the_service_ceilings():
    settings = load_settings("tiny")
    with pytest.raises(RequestRejected, match="image_beam_size 64 is above this service's limit of 8"):
        parse_options({"image_beam_size": 64}, settings)
    with pytest.raises(RequestRejected, match="image_prompt is 100000 characters"):
        parse_options({"image_prompt": "a" * 100_000}, settings)
    assert parse_options({"image_beam_size": 8}, settings).decoding.image_beam_size == 8


def test_video_track_follows_settings_unless_the_request_picks_one():
    settings = load_settings("tiny", overrides=["media.video_mode=image"])
    assert video_mode(parse_options({}, settings)) == "image"
    assert video_mode(parse_options({"modality": "audio"}, settings)) == "audio"
    assert video_mode(parse_options({}, load_settings("tiny"))) == load_settings("tiny").media.video_mode
