"""Images: an open_clip CLIP (the paper profile: ViT-B-32). A video's sampled frames are
embedded one by one and averaged."""

from __future__ import annotations

import functools

import torch

from cgcap.data.media_types import DecodedMedia
from cgcap.encoders.base import batches, model_dtype, normalised, weighted_mean_direction
from cgcap.models import LoadedModel


class OpenClipImageEncoder:
    modality = "image"

    def __init__(self, loaded: LoadedModel, device: str = "cpu", text_batch_size: int = 256, frame_batch_size: int = 16,
                 dtype: torch.dtype | None = None):
        self.spec = loaded.spec
        self.device = device
        self.dtype = dtype or model_dtype(device)
        self.model = loaded.model.to(device=device, dtype=self.dtype).eval()
        self.preprocess = loaded.processor
        self.tokenizer = loaded.tokenizer
        self.text_batch_size = text_batch_size
        self.frame_batch_size = frame_batch_size

    @functools.cached_property
    def dim(self) -> int:
        return int(self._embed_text_batch([""]).shape[-1])

    def embed_input(self, media: DecodedMedia) -> torch.Tensor:
        if media.modality == "image" and media.image is not None:
            pictures = [media.image]
        elif media.modality == "video" and media.frames:
            pictures = list(media.frames)
        else:
            raise ValueError(f"{media.name} is {media.modality}: the image encoder embeds images and video frames")
        return weighted_mean_direction(self.embed_images(pictures))

    def embed_images(self, pictures: list) -> torch.Tensor:
        """One normalised embedding per PIL image."""
        return torch.cat([self._embed_image_batch(list(chunk)) for chunk in batches(pictures, self.frame_batch_size)])

    @torch.inference_mode()
    def _embed_image_batch(self, pictures: list) -> torch.Tensor:
        pixels = torch.stack([self.preprocess(picture) for picture in pictures]).to(self.device, self.dtype)
        return normalised(self.model.encode_image(pixels))

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        texts = list(texts)
        if not texts:
            return torch.empty(0, self.dim)
        return torch.cat([self._embed_text_batch(list(chunk)) for chunk in batches(texts, self.text_batch_size)])

    @torch.inference_mode()
    def _embed_text_batch(self, texts: list[str]) -> torch.Tensor:
        return normalised(self.model.encode_text(self.tokenizer(texts).to(self.device)))
