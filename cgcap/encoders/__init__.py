"""Modality encoders: audio (CLAP) and image (open_clip); input -> embedding, texts -> embeddings."""

from cgcap.encoders.audio import ClapAudioEncoder, split_windows
from cgcap.encoders.base import ModalityEncoder
from cgcap.encoders.image import OpenClipImageEncoder
from cgcap.encoders.input_scoring import MeanScorer, guiding_modalities, input_scorer
from cgcap.encoders.loading import load_encoder

__all__ = [
    "ClapAudioEncoder",
    "MeanScorer",
    "ModalityEncoder",
    "OpenClipImageEncoder",
    "guiding_modalities",
    "input_scorer",
    "load_encoder",
    "split_windows",
]
