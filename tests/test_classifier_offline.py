"""``minilm-l6-audibility``: trained on first load from the audibility sentences, then read from the cache."""

from pathlib import Path

import pytest
import torch

from cgcap.classifier import offline
from cgcap.classifier.data import load_dataset
from cgcap.classifier.model import TextClassifier
from cgcap.models import ModelNotFoundError, known_models, load

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "audibility"
TEXTS = ["Audio of a dog barking.", "Audio of a quiet photograph."]


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "audibility"
    folder.mkdir()
    for name in ("audible.txt", "not_audible.txt"):
        (folder / name).write_text("\n".join((REFERENCE / name).read_text().splitlines()[:80]) + "\n")
    monkeypatch.setenv("CGCAP_AUDIBILITY_DATA", str(folder))
    return folder


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CGCAP_CACHE", str(cache))
    return cache


def test_first_load_trains_on_the_found_sentences_and_later_loads_read_the_cache(data_folder, empty_cache, monkeypatch):
    entry = known_models()["minilm-l6-audibility"]
    assert entry.kind == "sequence-classifier"
    assert entry.available() is None  # not cached yet, but trainable here

    first = TextClassifier.load("minilm-l6-audibility")
    folder = empty_cache / "models" / "minilm-l6-audibility"
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    assert first.metadata.base == "minilm-l6"
    assert first.metadata.dataset_hash == load_dataset(data_folder / "audible.txt",
                                                       data_folder / "not_audible.txt").dataset_hash

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    monkeypatch.setattr("cgcap.classifier.training.train_classifier", no_training)
    monkeypatch.setenv("CGCAP_AUDIBILITY_DATA", str(data_folder.parent / "gone"))  # data no longer needed
    assert entry.available() is None
    again = TextClassifier.load("minilm-l6-audibility")
    assert again.spec == "minilm-l6-audibility"
    assert torch.equal(again.score(TEXTS), first.score(TEXTS))


def test_published_file_names_are_found_too(tmp_path, monkeypatch):
    folder = tmp_path / "audibility-dataset"
    folder.mkdir()
    (folder / "audible.txt").write_text("A bell rings.\n")
    (folder / "notAudible.txt").write_text("A stone sits.\n")
    monkeypatch.setenv("CGCAP_AUDIBILITY_DATA", str(folder))
    assert offline.find_audibility_data() == (folder / "audible.txt", folder / "notAudible.txt")


def test_without_data_or_cache_the_error_says_where_to_put_the_sentences(tmp_path, empty_cache, monkeypatch):
    monkeypatch.setenv("CGCAP_AUDIBILITY_DATA", str(tmp_path / "nothing-here"))
    reason = known_models()["minilm-l6-audibility"].available()
    assert "CGCAP_AUDIBILITY_DATA" in reason and "arielshaulov/zero-shot-audio-captioning" in reason
    with pytest.raises(ModelNotFoundError, match="audibility-dataset/"):
        load("minilm-l6-audibility")
