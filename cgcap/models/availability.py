"""Whether a spec loads on this machine, without loading it: what ``cgcap models list`` shows."""

from __future__ import annotations

import os

from pydantic import BaseModel


class CatalogRow(BaseModel):
    spec: str
    kind: str  # the store's kind, or the settings role for a profile's spec the store does not name
    loadable: bool
    why_not: str | None = None
    description: str


def model_catalog() -> list[CatalogRow]:
    """Every spec the store names, then every profile's model specs it does not, each with whether it loads."""
    from cgcap.config import list_profiles, load_settings
    from cgcap.models.store import known_models

    known = known_models()
    rows = []
    for name, entry in sorted(known.items()):
        reason = entry.available()
        rows.append(CatalogRow(spec=name, kind=entry.kind, loadable=reason is None, why_not=reason,
                               description=entry.description))
    for profile in list_profiles():
        models = load_settings(profile).models
        for role in ("language_model", "audio_encoder", "image_encoder", "classifier", "image_classifier"):
            spec = getattr(models, role)
            if spec is None or spec.split("@")[0] in known or any(row.spec == spec for row in rows):
                continue
            reason = why_not_loadable(spec)
            rows.append(CatalogRow(spec=spec, kind=role, loadable=reason is None, why_not=reason,
                                   description=f"{profile} profile's {role}"))
    return rows


def why_not_loadable(spec: str) -> str | None:
    """Whether a spec could be loaded here, without loading it (None = yes)."""
    from cgcap.models import ModelNotFoundError
    from cgcap.models.hf import resolve_source

    if spec.startswith("models:/"):
        return why_not_registered(spec)
    if spec.startswith("runs:/"):
        try:
            from cgcap.models.mlflow_models import download_model

            download_model(spec)
        except ModelNotFoundError as error:
            return str(error)
        return None
    if spec.startswith("open_clip:"):
        return why_not_cached_open_clip(spec)
    try:
        resolve_source(spec)
    except ModelNotFoundError as error:
        return str(error)
    return None


def why_not_registered(uri: str) -> str | None:
    """Whether the registry holds ``models:/name@alias`` or ``models:/name/version``, without downloading it."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    body = uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in body:
            client.get_model_version_by_alias(*body.split("@", 1))
        else:
            name, _, version = body.partition("/")
            client.get_model_version(name, version) if version else client.get_registered_model(name)
    except MlflowException as error:
        return f"MLflow model {uri!r} is not in the registry at {mlflow.get_tracking_uri()!r}: {error.message}"
    return None


def why_not_cached_open_clip(spec: str) -> str | None:
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    from cgcap.models.open_clip_models import parse_open_clip_spec

    arch, pretrained = parse_open_clip_spec(spec)
    if not pretrained or os.path.exists(pretrained):
        return None
    hub = (open_clip.get_pretrained_cfg(arch, pretrained) or {}).get("hf_hub", "").strip("/")
    files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    if hub and any(isinstance(try_to_load_from_cache(hub, name), str) for name in files):
        return None
    return f"open_clip weights {arch}/{pretrained} are not in the local cache (they download from the hub on first load)"
