"""Audio: CLAP (transformers ClapModel + ClapProcessor), e.g. laion/clap-htsat-unfused.

CLAP's audio tower sees a fixed window (10 s for LAION CLAP). Longer clips are split
into consecutive windows whose embeddings are averaged, each weighted by its length,
rather than cropped at random as the feature extractor would do.
"""

from __future__ import annotations

import numpy as np
import torch

from cgcap.data.media_types import DecodedMedia, MediaError
from cgcap.encoders.base import batches, model_dtype, normalised, weighted_mean_direction
from cgcap.models import LoadedModel
from cgcap.models.onnx_text import OnnxTextTower, TextBackend, TextFeatures, resolve_text_backend


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 at ``target_rate`` (the rate an audio model was trained on)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate == target_rate:
        return audio
    return librosa.resample(audio, orig_sr=sample_rate, target_sr=target_rate).astype(np.float32)


def split_windows(waveform: np.ndarray, window_samples: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Consecutive windows of ``window_samples`` (the last may be shorter) and their length weights."""
    windows = [waveform[start:start + window_samples] for start in range(0, len(waveform), window_samples)]
    weights = np.array([len(window) for window in windows], dtype=np.float64)
    return windows, weights / weights.sum()


class ClapAudioEncoder:
    modality = "audio"

    def __init__(self, loaded: LoadedModel, device: str = "cpu", text_batch_size: int = 256, window_batch_size: int = 8,
                 dtype: torch.dtype | None = None, text_backend: TextBackend = "torch", int8: bool = False):
        if loaded.processor is None:
            raise ValueError(f"CLAP model {loaded.spec!r} was loaded without its ClapProcessor")
        self.spec = loaded.spec
        self.device = device
        self.dtype = dtype or model_dtype(device)
        self.model = loaded.model.to(device=device, dtype=self.dtype).eval()
        self.features = loaded.processor.feature_extractor
        self.tokenizer = loaded.processor.tokenizer
        self.sample_rate = int(self.features.sampling_rate)
        self.window_samples = int(self.features.nb_max_samples)
        self.text_batch_size = text_batch_size
        self.window_batch_size = window_batch_size
        # The text tower scores every candidate; ONNX Runtime runs it faster on a CPU with the same scores.
        self._text_onnx = None
        if resolve_text_backend(text_backend, device, int8) == "onnx" and self.dtype == torch.float32:
            self._text_onnx = OnnxTextTower(TextFeatures(self.model), self.tokenizer, max_length=self._text_max_length,
                                            int8=int8)

    @property
    def _text_max_length(self) -> int:
        return int(min(self.tokenizer.model_max_length, self.model.config.text_config.max_position_embeddings - 2))

    @property
    def window_seconds(self) -> float:
        return self.window_samples / self.sample_rate

    def embed_input(self, media: DecodedMedia) -> torch.Tensor:
        if media.audio is None or media.sample_rate is None:
            raise MediaError(f"{media.name} has no sound track for the audio encoder")
        waveform = self.resample(media.audio, media.sample_rate)
        windows, weights = split_windows(waveform, self.window_samples)
        return weighted_mean_direction(self.embed_windows(windows), torch.from_numpy(weights))

    def resample(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        return resample(audio, sample_rate, self.sample_rate)

    def embed_windows(self, windows: list[np.ndarray]) -> torch.Tensor:
        """One normalised embedding per window (each at most the model's window length)."""
        return torch.cat([self._embed_window_batch(list(chunk)) for chunk in batches(windows, self.window_batch_size)])

    @torch.inference_mode()
    def _embed_window_batch(self, windows: list[np.ndarray]) -> torch.Tensor:
        inputs = self.features(windows, sampling_rate=self.sample_rate, return_tensors="pt")
        is_longer = inputs.get("is_longer")
        if is_longer is not None and self.features.truncation == "fusion":
            # With no window over the limit the extractor marks one at random as longer;
            # alone, a window is always marked. Mark all so batching cannot change a result.
            is_longer = torch.ones_like(is_longer)
        features = inputs["input_features"].to(self.device, self.dtype)
        output = self.model.get_audio_features(
            input_features=features, is_longer=None if is_longer is None else is_longer.to(self.device)
        )
        return normalised(output.pooler_output)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        texts = list(texts)
        if not texts:
            return torch.empty(0, self.model.config.projection_dim)
        if self._text_onnx is not None:
            return normalised(torch.from_numpy(self._text_onnx.vectors(texts)))
        return torch.cat([self._embed_text_batch(list(chunk)) for chunk in batches(texts, self.text_batch_size)])

    @torch.inference_mode()
    def _embed_text_batch(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        output = self.model.get_text_features(
            input_ids=tokens["input_ids"].to(self.device), attention_mask=tokens["attention_mask"].to(self.device)
        )
        return normalised(output.pooler_output)
