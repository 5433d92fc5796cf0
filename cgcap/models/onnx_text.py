"""Text towers on ONNX Runtime: a transformers encoder exported once into the model cache.

The decoder scores hundreds of candidate texts per token with small encoders (the MiniLM
classifier, a sentence embedder, CLAP's text tower). On a CPU, ONNX Runtime runs them
faster than eager torch with the same float32 weights, so the scores agree to float
rounding. int8 (dynamic quantisation of the weights) is an option, never the default,
because it changes scores by more than rounding.

A tower is a module mapping ``(input_ids, attention_mask)`` to one vector per text:
``ClassifierLogits`` for a sequence classifier, ``MeanPooled`` for a sentence embedder,
``TextFeatures`` for any ``get_text_features`` (CLAP). Its export is keyed by a digest of
the module's weights, so a retrained classifier never reuses a stale graph.

Each distinct text is tokenised once, without padding: texts are sorted by token count and
batched with neighbours of (nearly) the same length, so no batch pays for the longest text.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from cgcap.config import SettingsError
from cgcap.models.store import cache_dir

log = logging.getLogger(__name__)

TextBackend = Literal["auto", "torch", "onnx"]

OPSET = 17
# Texts per ONNX Runtime call. MiniLM on 800 candidate texts, 1 thread: 16 to 128 took the same CPU time,
# 256 10% more, 800 three times as much (the activations no longer fit the caches).
BATCH_SIZE = 64
# Export and graph optimisation of a 6-layer MiniLM, on idle cores (seconds; 1 s measured, on one thread as on
# two); scaled by the load when announced.
EXPORT_SECONDS = 1.5
QUANTISE_SECONDS = 2.0


_ANNOUNCED: set[str] = set()


def resolve_text_backend(backend: TextBackend, device: torch.device | str, int8: bool = False) -> str:
    """``torch`` or ``onnx``: auto is ONNX Runtime on a CPU and torch (half precision) on a GPU.

    The rule is measured (benchmarks/text_backends.py, docs/PERFORMANCE.md): on both CPU kinds these machines
    have, ONNX Runtime scores a candidate set faster than torch, by 1.25x on an Intel Xeon with AMX (where
    torch's oneDNN gains most) and more on an AMD EPYC, so a CPU never does better with torch."""
    on_gpu = torch.device(device).type == "cuda"
    if backend not in ("auto", "torch", "onnx"):
        raise SettingsError(f"models.text_backend {backend!r}: choose auto, torch or onnx")
    chosen = ("torch" if on_gpu else "onnx") if backend == "auto" else backend
    if backend == "auto" and chosen not in _ANNOUNCED:
        _ANNOUNCED.add(chosen)
        log.info("models.text_backend auto: %s (%s)", chosen,
                 "torch in half precision on a GPU" if on_gpu else "ONNX Runtime, faster than torch on CPUs")
    if int8 and chosen != "onnx":
        raise SettingsError("models.text_int8: int8 text towers run on ONNX Runtime: set the text backend to onnx (or auto on a CPU)")
    if chosen == "onnx" and on_gpu:
        raise SettingsError("models.text_backend: the ONNX text backend runs on the CPU; on a GPU use torch (or auto)")
    return chosen


class ClassifierLogits(torch.nn.Module):
    """A ``...ForSequenceClassification`` model's logits."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class MeanPooled(torch.nn.Module):
    """The mean of an encoder's last hidden states over the real tokens (sentence-transformers pooling)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class TextFeatures(torch.nn.Module):
    """``model.get_text_features(...).pooler_output`` (CLAP, CLIP): the projected text embedding."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        return getattr(output, "pooler_output", output)


def weights_digest(tower: torch.nn.Module) -> str:
    """Names the export: the tower's type, its weights and the versions that shape the graph."""
    import onnxruntime

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{type(tower).__name__}/{type(getattr(tower, 'model', tower)).__name__}/opset{OPSET}/"
                  f"torch{torch.__version__}/ort{onnxruntime.__version__}".encode())
    for name, tensor in sorted(tower.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export_tower(tower: torch.nn.Module, tokenizer, int8: bool = False) -> Path:
    """The optimised ONNX file of ``tower`` (int8 weights if asked), exported on first use."""
    from cgcap.models.prepare import build_once, estimate_seconds

    key = weights_digest(tower)
    fp32 = build_once(cache_dir() / "onnx" / key, _has_model, lambda folder: _export(tower, tokenizer, folder),
                      f"exporting {type(getattr(tower, 'model', tower)).__name__} to ONNX",
                      estimate_seconds(EXPORT_SECONDS, serial=True))
    if not int8:
        return fp32 / "model.onnx"
    quantised = build_once(cache_dir() / "onnx" / f"{key}-int8", _has_model,
                           lambda folder: _quantise(fp32 / "raw.onnx", folder),
                           "quantising the ONNX text tower to int8", estimate_seconds(QUANTISE_SECONDS, serial=True))
    return quantised / "model.onnx"


def _has_model(folder: Path) -> bool:
    return (folder / "model.onnx").is_file()


def _export(tower: torch.nn.Module, tokenizer, folder: Path) -> None:
    from cgcap.models.prepare import estimate_seconds, timed_progress

    # Texts of two lengths, so the traced batch has padding: transformers drops an all-ones attention
    # mask while tracing, and a graph traced without one would ignore padding forever after.
    sample = tokenizer(["a short text", "a somewhat longer text to trace"], padding=True, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"])
    axes = {"input_ids": {0: "texts", 1: "tokens"}, "attention_mask": {0: "texts", 1: "tokens"}, "vectors": {0: "texts"}}
    with timed_progress("ONNX export", estimate_seconds(EXPORT_SECONDS, serial=True)), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches and the exporter's deprecation notice
        tower = tower.eval()
        # The TorchScript exporter: the dynamo one needs onnxscript and gains nothing for these encoders.
        torch.onnx.export(tower, inputs, str(folder / "raw.onnx"), dynamo=False, opset_version=OPSET,
                          input_names=["input_ids", "attention_mask"], output_names=["vectors"], dynamic_axes=axes)
        _optimise(folder / "raw.onnx", folder / "model.onnx")


def _quantise(raw: Path, folder: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from cgcap.models.prepare import estimate_seconds, timed_progress

    with timed_progress("int8 quantisation", estimate_seconds(QUANTISE_SECONDS, serial=True)):
        quantize_dynamic(str(raw), str(folder / "raw.onnx"), weight_type=QuantType.QInt8)
        _optimise(folder / "raw.onnx", folder / "model.onnx")


def _optimise(source: Path, target: Path) -> None:
    """Saves ONNX Runtime's graph optimisations (fused attention, layer norm, GELU) into ``target``.

    The extended level, not "all": "all" adds layout changes for this machine's CPU, which a
    cache shared with another machine must not hold; sessions apply them when they load.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def quiet_between_runs(options) -> None:
    """ONNX Runtime's threads sleep when a run ends instead of spinning for the next one.

    The decoder alternates scorer calls with the language model's passes on the same cores; spinning
    ORT threads took those cores from torch. ``benchmarks/decode.py --k 512 --tokens 6`` on 2 idle
    cores: exact 1.425 -> 1.161 s/token (scoring 4.59 -> 3.87 s, CPU 2.75 -> 2.17 s/token), same tokens.
    """
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")


def length_batches(token_ids: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Indices of the texts, grouped into batches of neighbours in token count (shortest first)."""
    order = sorted(range(len(token_ids)), key=lambda index: len(token_ids[index]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def padded(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` as int64 arrays, right-padded to the longest of ``token_ids``."""
    width = max(len(ids) for ids in token_ids)
    input_ids = np.full((len(token_ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, :len(ids)] = ids
        mask[row, :len(ids)] = 1
    return input_ids, mask


def run_by_length(texts: list[str], tokenizer, max_length: int, batch_size: int,
                  forward: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """``forward`` over ``texts`` tokenised once and batched by length; rows in the order of ``texts``.

    Texts the tokenizer makes identical (an uncased tokenizer reads " Bell", " bell" and " BELL" alike:
    4 to 10% of SmolLM2's top-512 after "Audio of a ...") are run once and share the row."""
    token_ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    first: dict[tuple[int, ...], int] = {}  # token ids -> their row among the distinct ones
    source = [first.setdefault(tuple(ids), len(first)) for ids in token_ids]  # text -> its row
    unique = list(first)
    rows: np.ndarray | None = None
    for batch in length_batches(unique, batch_size):
        vectors = np.asarray(forward(*padded([unique[i] for i in batch], pad_id)), dtype=np.float32)
        if rows is None:
            rows = np.empty((len(unique), vectors.shape[1]), dtype=np.float32)
        rows[batch] = vectors
    return rows[source] if rows is not None else np.zeros((0, 0), dtype=np.float32)


class OnnxTextTower:
    """``vectors(texts)``: the tower's output per text, computed by ONNX Runtime on the CPU."""

    def __init__(self, tower: torch.nn.Module, tokenizer, max_length: int = 64, batch_size: int = BATCH_SIZE,
                 int8: bool = False, threads: int | None = None):
        import onnxruntime

        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.int8 = int8
        self.path = export_tower(tower, tokenizer, int8=int8)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # As many threads as torch uses, so the two backends compare on equal terms and a
        # process limited to N threads (an actor with N CPUs) stays within them.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        quiet_between_runs(options)
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(["vectors"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def vectors(self, texts: list[str]) -> np.ndarray:
        """``[len(texts), dim]`` float32."""
        return run_by_length(texts, self.tokenizer, self.max_length, self.batch_size, self._forward)


def sentence_tower(model: torch.nn.Module, tokenizer, max_length: int = 128, batch_size: int = BATCH_SIZE,
                   int8: bool = False) -> OnnxTextTower:
    """Mean-pooled last hidden states of ``model`` (an ``AutoModel`` encoder such as MiniLM) on ONNX Runtime:
    what a sentence embedder L2-normalises."""
    return OnnxTextTower(MeanPooled(model), tokenizer, max_length=max_length, batch_size=batch_size, int8=int8)
