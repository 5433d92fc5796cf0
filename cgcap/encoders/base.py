"""What every modality encoder offers the decoder, the service and the metrics."""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import torch

from cgcap.data.media_types import DecodedMedia

T = TypeVar("T")


@runtime_checkable
class ModalityEncoder(Protocol):
    """A contrastive model's two towers: ``E_x`` for the input and ``E_t`` for texts (docs/ALGORITHM.md)."""

    modality: str  # "audio" or "image": the input tower's modality
    spec: str

    def embed_input(self, media: DecodedMedia) -> torch.Tensor:
        """One L2-normalised vector ``[dim]`` (float32, CPU) for the input."""
        ...

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised ``[len(texts), dim]`` (float32, CPU)."""
        ...


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def model_dtype(device: str) -> torch.dtype:
    # Scorers never need gradients or fp32 accuracy; half precision halves a GPU's time and memory.
    return torch.float16 if str(device).startswith("cuda") else torch.float32


def normalised(vectors: torch.Tensor) -> torch.Tensor:
    """Unit length along the last axis, float32 on the CPU, outside inference mode (usable under autograd)."""
    return torch.nn.functional.normalize(vectors.detach().float().cpu(), dim=-1).clone()


def weighted_mean_direction(vectors: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The normalised (weighted) mean of unit vectors: one embedding for several windows or frames."""
    vectors = normalised(vectors)
    if weights is None:
        weights = torch.ones(vectors.shape[0])
    weights = weights.float() / weights.sum()
    return normalised((weights[:, None] * vectors).sum(dim=0))
