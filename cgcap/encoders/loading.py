"""``load_encoder(spec)``: a model-store spec to a ready ``ModalityEncoder``."""

from __future__ import annotations

import torch

from cgcap.encoders.base import ModalityEncoder
from cgcap.models import ModelNotFoundError, load, resolve_device
from cgcap.models.onnx_text import TextBackend
from cgcap.models.store import import_attribute

# The store's model kinds that are encoders, and what wraps each (imported when one loads).
ENCODER_KINDS = {"clap": "cgcap.encoders.audio:ClapAudioEncoder", "clip": "cgcap.encoders.image:OpenClipImageEncoder",
                 "tagger": "cgcap.encoders.tagger:tagger_encoder"}


def load_encoder(spec: str, device: str = "cpu", dtype: torch.dtype | None = None, text_backend: TextBackend = "auto",
                 int8: bool = False) -> ModalityEncoder:
    """``tiny:clap``, ``laion/clap-htsat-unfused``, a CLAP folder, ``open_clip:ViT-B-32/TAG``, ``yamnet-minilm`` ...

    ``dtype`` defaults to float16 on a GPU and float32 on the CPU. ``text_backend`` and ``int8``
    (``models.text_backend``, ``models.text_int8``) choose how the text tower that embeds every
    candidate runs: CLAP's and the taggers' sentence embedder can run on ONNX Runtime; open_clip's stays on torch.
    """
    device = resolve_device(device)
    if isinstance(spec, str) and spec.strip().startswith("open_clip:"):
        from cgcap.models.tiny_encoders import register_open_clip_configs

        register_open_clip_configs()  # so this project's architectures load from checkpoints too
    loaded = load(spec, device="cpu")
    wrapper = ENCODER_KINDS.get(loaded.kind)
    if wrapper is None:
        raise ModelNotFoundError(
            f"model {spec!r} is a {loaded.kind} model, not a modality encoder: "
            "give a CLAP model or yamnet-minilm for audio, an open_clip model or efficientnet-lite2-minilm for images"
        )
    if loaded.kind == "clip":
        return import_attribute(wrapper)(loaded, device=device, dtype=dtype)
    return import_attribute(wrapper)(loaded, device=device, dtype=dtype, text_backend=text_backend, int8=int8)
