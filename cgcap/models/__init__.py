"""The model store: ``load(spec)`` for every model the product uses."""

from cgcap.models.store import (
    LoadedModel,
    ModelEntry,
    ModelNotFoundError,
    known_models,
    load,
    resolve_device,
)

__all__ = ["LoadedModel", "ModelEntry", "ModelNotFoundError", "known_models", "load", "resolve_device"]
