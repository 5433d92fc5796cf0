"""open_clip models: ``open_clip:ARCH/PRETRAINED_TAG`` or ``open_clip:ARCH@/path/to/checkpoint``."""

from __future__ import annotations

from cgcap.models.store import LoadedModel, ModelNotFoundError


def parse_open_clip_spec(spec: str) -> tuple[str, str | None]:
    body = spec.removeprefix("open_clip:")
    if "@" in body:
        arch, _, pretrained = body.partition("@")
    elif "/" in body:
        arch, _, pretrained = body.partition("/")
    else:
        arch, pretrained = body, None
    if not arch:
        raise ModelNotFoundError(f"open_clip spec {spec!r} names no architecture (open_clip:ARCH/PRETRAINED)")
    return arch, pretrained or None


def load_open_clip(spec: str) -> LoadedModel:
    import open_clip

    arch, pretrained = parse_open_clip_spec(spec)
    if arch not in open_clip.list_models():
        raise ModelNotFoundError(f"open_clip has no architecture {arch!r} (spec {spec!r})")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
    except (RuntimeError, OSError, ValueError) as error:
        raise ModelNotFoundError(
            f"could not load open_clip weights for {spec!r}: {error}; pass a local checkpoint as "
            f"open_clip:{arch}@/path/to/open_clip_model.safetensors"
        ) from None
    return LoadedModel(spec, "clip", model, tokenizer=open_clip.get_tokenizer(arch), processor=preprocess, source=pretrained or "random")
