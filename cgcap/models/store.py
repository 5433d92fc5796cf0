"""One door for every model: ``load(spec)`` turns a spec string into a loaded model.

Spec forms (the same from the CLI, a Serve replica and an evaluation actor):

- ``tiny:NAME[@SEED]``      a small randomly initialised model built from a config (tests)
- ``smollm2-135m``, ``minilm-l6``, ``yamnet-minilm``, ``efficientnet-lite2-minilm``   weights shipped inside
  installed Python packages
- ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/ID/PATH``   an MLflow model
- ``open_clip:ARCH/PRETRAINED`` or ``open_clip:ARCH@/path/to/checkpoint``
- a local folder, or a Hugging Face id, loaded with ``from_pretrained``
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

Kind = Literal["causal-lm", "sequence-classifier", "clip", "clap", "tagger"]


class ModelNotFoundError(LookupError):
    """A spec could not be resolved to weights on this machine; the message says how to get them."""


@dataclass
class LoadedModel:
    spec: str
    kind: Kind
    model: Any
    tokenizer: Any = None
    processor: Any = None  # image transform (open_clip), ClapProcessor, or a tagger's SentenceEmbedder
    source: str = ""  # the folder, id or URI the weights came from
    extra: dict[str, Any] = field(default_factory=dict)


def import_attribute(path: str) -> Any:
    """The object a ``"module:attribute"`` string names, imported now (and only now)."""
    import importlib

    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@dataclass(frozen=True)
class ModelEntry:
    """A named spec the store knows without a hub (packaged or tiny): data, until it is loaded.

    ``loader`` and ``availability`` are ``"module:function"`` strings (or, for entries made at
    run time, the functions themselves); nothing is imported until the spec is loaded or asked about.
    """

    name: str
    kind: Kind
    description: str
    loader: str | Callable[[str, int], LoadedModel]  # (spec, seed) -> LoadedModel
    availability: str | Callable[[], str | None] | None = None  # () -> None when loadable here, else why not
    # () -> anything: builds what the spec needs once (a conversion, a fine-tune) into the cache; None: nothing
    preparation: str | Callable[[], object] | None = None

    def build(self, spec: str, seed: int) -> LoadedModel:
        load_entry = import_attribute(self.loader) if isinstance(self.loader, str) else self.loader
        return load_entry(spec, seed)

    def available(self) -> str | None:
        if self.availability is None:
            return None
        check = import_attribute(self.availability) if isinstance(self.availability, str) else self.availability
        return check()


_ADDED: dict[str, ModelEntry] = {}


def prepare_model(spec: str) -> bool:
    """Build the spec's one-off artefact into the cache now, if it has one and can be built here (a cached
    one is only found); True if the spec has such a step. Loading the spec later reads the cache."""
    entry = known_models().get(spec.strip()) if isinstance(spec, str) else None
    if entry is None or entry.preparation is None or entry.available() is not None:
        return False
    build = import_attribute(entry.preparation) if isinstance(entry.preparation, str) else entry.preparation
    build()
    return True


def register(entry: ModelEntry) -> None:
    """Add a spec at run time (a plugin or a test); the built-in ones are the table in ``catalog.py``."""
    _ADDED[entry.name] = entry


def known_models() -> dict[str, ModelEntry]:
    from cgcap.models.catalog import CATALOG

    return {**{entry.name: entry for entry in CATALOG}, **_ADDED}


def load(spec: str, task: Kind | None = None, device: str = "cpu") -> LoadedModel:
    """Load the model a spec names; ``task`` picks the head for Hugging Face ids that need one."""
    from cgcap.models.quiet import hide_weight_loading_bars

    hide_weight_loading_bars()
    if not isinstance(spec, str) or not spec.strip():
        raise ModelNotFoundError(f"model spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    known = known_models()
    if spec.startswith("tiny:"):
        name, _, seed = spec.partition("@")
        entry = known.get(name)
        if entry is None:
            tiny = sorted(n for n in known if n.startswith("tiny:"))
            raise ModelNotFoundError(f"unknown tiny model {name!r}; known: {', '.join(tiny)}")
        if seed and not seed.isdigit():
            raise ModelNotFoundError(f"tiny model seed must be a non-negative integer, got {seed!r} in {spec!r}")
        loaded = entry.build(spec, int(seed) if seed else 0)
    elif spec in known:
        entry = known[spec]
        reason = entry.available()
        if reason is not None:
            raise ModelNotFoundError(f"model {spec!r} is not available here: {reason}")
        loaded = entry.build(spec, 0)
    elif spec.startswith(("models:/", "runs:/")):
        from cgcap.models.mlflow_models import load_mlflow_model

        loaded = load_mlflow_model(spec, task)
    elif spec.startswith("open_clip:"):
        from cgcap.models.open_clip_models import load_open_clip

        loaded = load_open_clip(spec)
    else:
        from cgcap.models.hf import load_pretrained

        loaded = load_pretrained(spec, task)
    return to_device(loaded, device)


def to_device(loaded: LoadedModel, device: str) -> LoadedModel:
    if device and device != "cpu" and hasattr(loaded.model, "to"):
        loaded.model.to(resolve_device(device))
    if hasattr(loaded.model, "eval"):
        loaded.model.eval()
    return loaded


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def cache_dir() -> Path:
    """Where converted packaged models live (``CGCAP_CACHE`` or ``~/.cache/cgcap``)."""
    root = os.environ.get("CGCAP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cgcap")
    return Path(root)
