"""Hugging Face ids and local folders, through the real ``from_pretrained``."""

from __future__ import annotations

import os
from pathlib import Path

from cgcap.models.store import Kind, LoadedModel, ModelNotFoundError

_HOW_TO_GET = (
    "download it on a machine with hub access (`hf download {spec} --local-dir DIR`) and pass DIR "
    "as the spec, or set HF_HUB_OFFLINE=0 where the hub is reachable (cgcap sets it to 1 by default)"
)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _is_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id that is not a valid repo name
        return False
    return isinstance(found, str)


def resolve_source(spec: str) -> str:
    """A local folder as is; a hub id only if cached, or if the hub may be asked."""
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model folder {spec!r} has no config.json; is it a save_pretrained folder?")
        return str(path)
    if spec.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model folder {spec!r} does not exist")
    if hub_offline() and not _is_cached(spec):
        raise ModelNotFoundError(
            f"model {spec!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            + _HOW_TO_GET.format(spec=spec)
        )
    return spec


def infer_kind(config) -> Kind:
    model_type = getattr(config, "model_type", "")
    if model_type == "clap":
        return "clap"
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "sequence-classifier"
    return "causal-lm"


def load_pretrained(spec: str, task: Kind | None = None) -> LoadedModel:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        ClapModel,
        ClapProcessor,
    )

    source = resolve_source(spec)
    try:
        config = AutoConfig.from_pretrained(source)
        kind = task or infer_kind(config)
        if kind == "clap":
            return LoadedModel(
                spec, kind, ClapModel.from_pretrained(source), processor=ClapProcessor.from_pretrained(source), source=source
            )
        tokenizer = AutoTokenizer.from_pretrained(source)
        if kind == "sequence-classifier":
            model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=2)
        elif kind == "causal-lm":
            model = AutoModelForCausalLM.from_pretrained(source)
        else:
            raise ModelNotFoundError(f"model {spec!r}: task {kind!r} is not a Hugging Face model kind")
    except (OSError, ValueError) as error:
        if isinstance(error, ModelNotFoundError):
            raise
        raise ModelNotFoundError(f"could not load model {spec!r}: {error}; " + _HOW_TO_GET.format(spec=spec)) from None
    return LoadedModel(spec, kind, model, tokenizer=tokenizer, source=source)
