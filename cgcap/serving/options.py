"""Per-request options: the settings' ``decoding`` keys plus ``modality`` and ``classifier``.

Checked in the ingress, before any model runs, so a bad option is a 422 naming the key.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from cgcap.config import DecodingSettings, ModelSettings, ServeSettings, Settings, SettingsError, with_decoding
from cgcap.decoding.plan import ClassifierGuide, classifier_specs
from cgcap.serving.errors import RequestRejected, invalid

Modality = Literal["audio", "image", "video"]
SERVICE_KEYS = ("modality", "classifier")


class CaptionOptions(BaseModel):
    """What the decoder deployment needs besides the media: validated, ready to use."""

    model_config = ConfigDict(frozen=True)

    decoding: DecodingSettings  # the profile's decoding settings with the request's overrides applied
    overrides: dict[str, Any]  # only the keys the request set, echoed back in the response
    modality: Modality | None = None  # what the client says the file is; checked against the decoded file
    classifier: str | None = None  # the request's own classifier (the Serve multiplexed model id); None = its modality's
    classifiers: dict[str, str] = {}  # each modality rule's classifier from the settings: {"audio": ..., "image": ...}
    default_video_mode: str = "both"  # settings.media.video_mode, used when modality does not pick a track


def _option_error(message: str, key: str | None) -> RequestRejected:
    return invalid(message, field=f"options.{key}" if key else "options", code="invalid_option")


def service_limits(serve: ServeSettings) -> dict[str, int]:
    """Each decoding key's per-request ceiling, read from the key's own field metadata (``service_limit``)."""
    limits = {}
    for key, field in DecodingSettings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if "service_limit" in extra:
            limits[key] = getattr(serve, str(extra["service_limit"]))
    return limits


def classifier_allowed(spec: str, defaults: list[str]) -> bool:
    """Requests may name MLflow models and the store's named models, never a path on the server."""
    from cgcap.models import known_models

    if spec in defaults or spec.startswith("models:/"):
        return True
    name = spec.split("@", 1)[0] if spec.startswith("tiny:") else spec
    return name in known_models() and (spec == name or spec[len(name) + 1:].isdigit())


def parse_options(raw: str | bytes | dict[str, Any] | None, settings: Settings) -> CaptionOptions:
    """Decode and check the ``options`` field; any problem raises a 422 that names the key."""
    if raw is None or raw == "" or raw == b"":
        data: Any = {}
    elif isinstance(raw, dict):
        data = raw
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise _option_error(f"options must be a JSON object: {error}", None) from None
    if not isinstance(data, dict):
        raise _option_error(f"options must be a JSON object, got {type(data).__name__}", None)

    decoding_keys = set(DecodingSettings.model_fields)
    unknown = sorted(set(data) - decoding_keys - set(SERVICE_KEYS))
    if unknown:
        raise _option_error(
            f"unknown option {unknown[0]!r}; options are the decoding settings "
            f"({', '.join(sorted(decoding_keys))}) plus {', '.join(SERVICE_KEYS)}", unknown[0])

    modality = data.get("modality")
    if modality is not None and modality not in ("audio", "image", "video"):
        raise _option_error(f"modality must be audio, image or video, got {modality!r}", "modality")

    defaults = classifier_specs(settings.models)
    classifier = data.get("classifier")
    if classifier is not None and (not isinstance(classifier, str) or not classifier.strip()):
        raise _option_error(f"classifier must be a model id string, got {classifier!r}", "classifier")
    classifier = classifier.strip() if classifier is not None else None
    if classifier is not None and not classifier_allowed(classifier, list(defaults.values())):
        raise _option_error(
            f"classifier {classifier!r} is not allowed: use an MLflow model URI (models:/NAME@ALIAS) "
            "or a named model from GET /v1/models", "classifier")

    overrides = {key: value for key, value in data.items() if key in decoding_keys}
    limits = service_limits(settings.serve)
    for key, value in overrides.items():  # text is capped before validation: it is never converted
        text = DecodingSettings.model_fields[key].annotation is str
        if text and isinstance(value, str) and key in limits and len(value) > limits[key]:
            raise _option_error(f"{key} is {len(value)} characters; this service's limit is {limits[key]}", key)
    try:
        decoding = with_decoding(settings, **overrides).decoding
    except SettingsError as error:
        key = next((k for k in overrides if f"decoding.{k}:" in str(error)), None)
        raise _option_error(str(error).replace("invalid settings: decoding.", "invalid option "), key) from None
    # Numbers are capped after validation, so "100000" (a string pydantic converts) cannot slip past.
    for key in overrides:
        value = getattr(decoding, key)
        if key in limits and not isinstance(value, str) and value > limits[key]:
            raise _option_error(f"{key} {value} is above this service's limit of {limits[key]}", key)
    return CaptionOptions(decoding=decoding, overrides=overrides, modality=modality, classifier=classifier,
                          classifiers=defaults, default_video_mode=settings.media.video_mode)


def video_mode(options: CaptionOptions) -> str:
    """For a video, ``modality`` picks the guiding track (audio or image); otherwise settings.media.video_mode."""
    return options.modality if options.modality in ("audio", "image") else options.default_video_mode


def request_guide(options: CaptionOptions, media: Any) -> ClassifierGuide | None:
    """The classifier that steers this request's input (the Captioner's rule, ``cgcap.decoding.plan``)."""
    from cgcap.decoding.plan import plan_guidance
    from cgcap.encoders import guiding_modalities

    guiding = guiding_modalities(media, video_mode(options)) if media is not None else []
    models = {"classifier": options.classifiers.get("audio"), "image_classifier": options.classifiers.get("image")}
    return plan_guidance(options.decoding, guiding, ModelSettings(**models), options.classifier).guide


def request_settings(settings: Settings, options: CaptionOptions) -> Settings:
    """The settings one request runs with: its decoding keys, its classifier and its video track.

    A request's own ``classifier`` replaces every modality's; without one each modality keeps its own.
    """
    update = {"classifier": options.classifier, "image_classifier": options.classifier} if options.classifier else {}
    models = settings.models.model_copy(update=update)
    media = settings.media.model_copy(update={"video_mode": video_mode(options)})
    return settings.model_copy(update={"decoding": options.decoding, "models": models, "media": media})
