"""The model store: one spec string, one function, clear errors, reproducible tiny models."""

import json
import os
import socket
import subprocess
import sys

import huggingface_hub.utils
import pytest
import torch

from cgcap import models
from cgcap.models import ModelNotFoundError
from cgcap.models.packaged import smollm2_folder


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: a missing model must not wait on the network."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model store tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_hub_model_fails_at_once_naming_the_spec_and_the_fix(no_network):
    with pytest.raises(ModelNotFoundError) as missing:
        models.load("gpt2-medium")
    message = str(missing.value)
    assert "'gpt2-medium'" in message and "hf download gpt2-medium" in message
    assert "set HF_HUB_OFFLINE=0" in message  # the CLI sets it to 1, so "unset" would do nothing


def test_missing_local_folder_and_folder_without_config_are_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        models.load(str(tmp_path / "nowhere"))
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        models.load(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="unknown tiny model 'tiny:gpt5'"):
        models.load("tiny:gpt5")
    with pytest.raises(ModelNotFoundError, match="non-empty"):
        models.load("  ")


def test_missing_mlflow_model_says_how_to_register_one(tracking_uri):
    from cgcap import tracking

    tracking.configure()
    with pytest.raises(ModelNotFoundError, match="cgcap classifier train --register"):
        models.load("models:/no-such-classifier@champion")


@pytest.mark.parametrize("spec", ["tiny:gpt2", "tiny:llama", "tiny:bert-classifier"])
def test_tiny_models_are_identical_across_builds_with_one_seed(spec):
    first, second, other = models.load(spec), models.load(spec), models.load(spec + "@1")
    first_state, second_state = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(first_state[name], second_state[name]) for name in first_state)
    assert any(not torch.equal(first_state[name], other.model.state_dict()[name]) for name in first_state)


def test_tiny_build_leaves_the_callers_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    models.load("tiny:llama")
    assert torch.equal(torch.rand(3), expected)


def test_tiny_llama_uses_grouped_query_attention():
    config = models.load("tiny:llama").model.config
    assert config.num_key_value_heads < config.num_attention_heads


def test_smollm2_is_the_real_model_converted_to_safetensors():
    loaded = models.load("smollm2-135m")
    folder = smollm2_folder()
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))  # nothing to unpickle
    config = loaded.model.config
    assert (config.vocab_size, config.num_hidden_layers, config.num_key_value_heads) == (49152, 30, 3)
    prompt = loaded.tokenizer("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        greedy = loaded.model.generate(**prompt, max_new_tokens=2, do_sample=False)
    assert "Paris" in loaded.tokenizer.decode(greedy[0, prompt.input_ids.shape[1]:])


def test_minilm_classifier_base_has_two_labels_and_real_vocabulary(capfd):
    from transformers import AutoModel

    from cgcap.models.packaged import minilm_folder

    loaded = models.load("minilm-l6")
    assert loaded.kind == "sequence-classifier" and loaded.model.config.num_labels == 2
    assert loaded.tokenizer.tokenize("a dog barks") == ["a", "dog", "bark", "##s"]  # real WordPiece vocabulary
    # The encoder carries the package's weights, ready for inference; its new head is no news worth a report.
    encoder = AutoModel.from_pretrained(minilm_folder())
    assert torch.equal(loaded.model.base_model.embeddings.word_embeddings.weight, encoder.embeddings.word_embeddings.weight)
    assert not loaded.model.training
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err
    # Nor a "Loading weights: 100%|...|" bar per model and per actor; a hub download keeps its bar only in a
    # terminal (here stderr is pytest's capture, as it is a log file in a Ray actor).
    assert "Loading weights" not in err
    assert huggingface_hub.utils.are_progress_bars_disabled()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cgcap.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # loads every catalogued model, in a subprocess
def test_models_list_tells_which_specs_load_here(tmp_path, tracking_uri):
    listing = subprocess.run([sys.executable, "-m", "cgcap.cli", "models", "list", "--json"], capture_output=True,
                             text=True, timeout=300, cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri})
    assert listing.returncode == 0, listing.stderr
    rows = {row["spec"]: row for row in json.loads(listing.stdout)}
    assert rows["tiny:gpt2"]["loadable"] and rows["smollm2-135m"]["loadable"] and rows["minilm-l6"]["loadable"]
    assert not rows["gpt2-medium"]["loadable"] and "HF_HUB_OFFLINE" in rows["gpt2-medium"]["why_not"]
    assert not rows["models:/audibility-classifier@champion"]["loadable"]


@pytest.mark.slow  # one cgcap process per subcommand
def test_every_subcommand_has_help():
    from cgcap.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        result = _cli(name, "--help")
        assert result.returncode == 0 and "usage: cgcap" in result.stdout, (name, result.stderr)


def test_tiny_model_seed_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(ModelNotFoundError, match="seed must be a non-negative integer.*'tiny:gpt2@x'"):
        models.load("tiny:gpt2@x")


def test_smollm2_conversion_reads_each_gguf_once_and_restores_the_reader(tmp_path):
    """The conversion's three transformers loads share one GGUFReader per file (3.5 s each for SmolLM2's
    vocabulary) and one tensor-name map per architecture; outside the conversion gguf is untouched."""
    import gguf
    import numpy as np

    from cgcap.models.packaged import _one_gguf_read

    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.arange(6, dtype=np.float32).reshape(2, 3))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    original_reader, original_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with _one_gguf_read():
        first, second = gguf.GGUFReader(path), gguf.GGUFReader(str(path))
        assert first is second
        np.testing.assert_array_equal(first.tensors[0].data.reshape(2, 3), np.arange(6).reshape(2, 3))
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
        assert gguf.get_tensor_name_map(arch, 2) is not gguf.get_tensor_name_map(arch, 3)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (original_reader, original_map)
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)
