"""The Serve application: ``serve run deployments.app:build_app profile=tiny`` or a config file.

Four deployments, each scaled and placed on its own (replicas, autoscaling, fractional
CPUs/GPUs come from the Serve config file's ``deployments`` section):
Ingress -> GuidedDecoder -> (Encoder.embed_texts, Classifier.score) at every step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from ray.serve import Application

from cgcap.config import Settings, load_settings
from deployments.classifier import Classifier
from deployments.decoder import GuidedDecoder
from deployments.encoder import Encoder
from deployments.ingress import Ingress


class AppArgs(BaseModel):
    """The ``args`` of a Serve config's application (or ``key=value`` after ``serve run``)."""

    model_config = ConfigDict(extra="forbid")

    profile: str = "offline"
    config: str | None = Field(None, description="YAML settings file on top of the profile")
    overrides: list[str] = Field(default_factory=list, description="settings overrides, e.g. decoding.top_k=64")
    batching: bool | None = Field(None, description="switch @serve.batch off/on; None keeps serve.batching")


def _absolute_tracking_uri(settings: Settings) -> Settings:
    # Replicas may start in another folder: pin a relative sqlite path to where the app was built.
    uri = settings.tracking.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        absolute = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
        settings.tracking.tracking_uri = f"sqlite:///{absolute}"
    return settings


def app_settings(args: AppArgs) -> Settings:
    overrides = list(args.overrides)
    if args.batching is not None:
        overrides.append(f"serve.batching={str(args.batching).lower()}")
    return _absolute_tracking_uri(load_settings(args.profile, args.config, overrides))


def build_app(args: dict | AppArgs | None = None) -> Application:
    """Serve's application builder: settings are loaded once here and handed to every deployment."""
    settings = app_settings(AppArgs.model_validate(args or {}))
    encoder = Encoder.bind(settings)
    classifier = Classifier.bind(settings)
    decoder = GuidedDecoder.bind(settings, encoder, classifier)
    return Ingress.bind(settings, encoder, classifier, decoder)
