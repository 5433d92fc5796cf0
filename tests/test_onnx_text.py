"""ONNX Runtime text towers: the same scores as torch on real texts with the packaged MiniLM, exported once."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from cgcap.classifier.model import TextClassifier
from cgcap.config import SettingsError, load_settings
from cgcap.models import load
from cgcap.models.onnx_text import length_batches, run_by_length, sentence_tower

pytestmark = pytest.mark.slow  # exports text towers to ONNX

# Candidate texts as the decoder writes them: one prefix, many one-token continuations of different lengths,
# and a repeat (scored once, returned twice).
CANDIDATES = [
    "Audio of a dog barking", "Audio of a", "Audio of a bell ringing in the distance while rain falls on a tin roof",
    "Audio of a quiet photograph", "Audio of a helicopter", "Audio of a dog barking", "Audio of a silent painting",
    "Audio of a crowd cheering at a football match", "Audio of a,", "Audio of a cat purring softly",
    "Audio of a framed picture on the wall", "Audio of a train whistle", "Audio of a stone", "Audio of a engine roar",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CGCAP_CACHE", str(cache))
        yield cache


def minilm_classifier(backend: str, int8: bool = False, seed: int = 0) -> TextClassifier:
    torch.manual_seed(seed)  # minilm-l6's two-label head is fresh: the same seed, the same head
    return TextClassifier(load("minilm-l6", task="sequence-classifier"), backend=backend, int8=int8)


@pytest.fixture(scope="module")
def torch_scores():
    return minilm_classifier("torch").score(CANDIDATES)


def test_onnx_classifier_gives_torchs_scores_and_is_exported_once(onnx_cache, torch_scores, monkeypatch):
    onnx = minilm_classifier("onnx")
    scores = onnx.score(CANDIDATES)
    assert torch.allclose(scores, torch_scores, atol=1e-5, rtol=0)
    assert scores[0] == scores[5]  # the repeated text
    assert len(list((onnx_cache / "onnx").glob("*/model.onnx"))) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds this model")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    assert torch.equal(minilm_classifier("onnx").score(CANDIDATES), scores)


def test_other_weights_get_their_own_export(onnx_cache, torch_scores):
    other_head = minilm_classifier("onnx", seed=1)
    assert not torch.allclose(other_head.score(CANDIDATES), torch_scores, atol=1e-3)
    assert torch.allclose(other_head.score(CANDIDATES), minilm_classifier("torch", seed=1).score(CANDIDATES), atol=1e-5)


def test_int8_is_off_by_default_and_ranks_like_float32(onnx_cache):
    settings = load_settings("offline")
    assert settings.models.text_int8 is False
    torch.manual_seed(0)
    default = TextClassifier.load("minilm-l6")  # what the CLI, the service and evaluation get on a CPU
    assert default.backend == "onnx" and not default.int8 and "int8" not in str(default._onnx.path)
    loaded = load("minilm-l6", task="sequence-classifier")
    tokenizer = loaded.tokenizer
    encoder = loaded.model.bert
    exact = sentence_tower(encoder, tokenizer)
    quantised = sentence_tower(encoder, tokenizer, int8=True)
    assert quantised.path != exact.path and "int8" in str(quantised.path)
    query = "Audio of a dog barking loudly"

    def similarities(tower) -> np.ndarray:
        vectors = tower.vectors([query] + CANDIDATES)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors[1:] @ vectors[0]

    exact_similarity, int8_similarity = similarities(exact), similarities(quantised)
    assert not np.allclose(exact_similarity, int8_similarity, atol=1e-5)  # really quantised
    assert spearmanr(exact_similarity, int8_similarity).statistic > 0.9


def test_sentence_tower_is_torchs_mean_pooling(onnx_cache):
    loaded = load("minilm-l6", task="sequence-classifier")
    encoder, tokenizer = loaded.model.bert, loaded.tokenizer
    with torch.no_grad():
        batch = tokenizer(CANDIDATES, padding=True, return_tensors="pt")
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    assert np.abs(sentence_tower(encoder, tokenizer).vectors(CANDIDATES) - expected).max() < 1e-4


def test_batches_hold_texts_of_neighbouring_lengths():
    ids = [[1] * n for n in (5, 1, 9, 3, 7, 2)]
    batches = length_batches(ids, 2)
    assert [[len(ids[i]) for i in batch] for batch in batches] == [[1, 2], [3, 5], [7, 9]]


def test_texts_the_tokenizer_reads_alike_run_once_and_share_their_row():
    tokenizer = load("minilm-l6", task="sequence-classifier").tokenizer  # uncased
    texts = ["Audio of a Bell", "Audio of a bell", "Audio of a dog", "Audio of a BELL", "Audio of a dog"]
    seen = []

    def forward(input_ids, attention_mask):
        seen.extend(tuple(row[:mask.sum()]) for row, mask in zip(input_ids.tolist(), attention_mask))
        return input_ids.sum(axis=1, keepdims=True).astype(np.float32)  # a row that names its input

    rows = run_by_length(texts, tokenizer, 64, 8, forward)
    assert len(seen) == 2 and len(set(seen)) == 2  # "bell" once, "dog" once
    expected = [sum(tokenizer(text)["input_ids"]) for text in texts]
    assert rows[:, 0].tolist() == expected
    assert rows[0, 0] == rows[1, 0] == rows[3, 0] != rows[2, 0] == rows[4, 0]


def test_int8_on_the_torch_backend_is_refused_by_name():
    loaded = load("tiny:bert-classifier", task="sequence-classifier")
    with pytest.raises(SettingsError, match="models.text_int8"):
        TextClassifier(loaded, backend="torch", int8=True)


def test_clap_text_tower_on_onnx_gives_torchs_embeddings(onnx_cache):
    from cgcap.encoders.audio import ClapAudioEncoder

    on_torch = ClapAudioEncoder(load("tiny:clap"))
    on_onnx = ClapAudioEncoder(load("tiny:clap"), text_backend="onnx")
    assert on_onnx._text_onnx is not None and on_torch._text_onnx is None
    assert torch.allclose(on_onnx.embed_texts(CANDIDATES), on_torch.embed_texts(CANDIDATES), atol=1e-5, rtol=0)


def test_sentence_embedder_on_onnx_gives_torchs_unit_vectors(onnx_cache):
    from cgcap.encoders.sentence import SentenceEmbedder
    from cgcap.models.packaged import minilm_folder

    on_torch = SentenceEmbedder(minilm_folder())
    on_onnx = on_torch.on_backend("onnx")
    assert on_onnx is not on_torch and on_torch.on_backend("onnx") is on_onnx  # one session per backend
    assert on_torch.on_backend("torch") is on_torch and on_onnx.backend == "onnx"
    expected = on_torch.embed_texts(CANDIDATES)
    assert torch.allclose(on_onnx.embed_texts(CANDIDATES), expected, atol=1e-5, rtol=0)
    assert torch.allclose(SentenceEmbedder(minilm_folder(), backend="onnx").embed_texts(CANDIDATES), expected,
                          atol=1e-5, rtol=0)
    assert on_torch.on_backend("onnx", int8=True).backend == "onnx-int8"


def test_tagger_encoders_embed_candidates_on_the_settings_text_backend(onnx_cache):
    from cgcap.captioner import LazyEncoders

    settings = load_settings("offline")
    default = LazyEncoders({"audio": settings.models.audio_encoder}, "cpu", settings.models.text_backend)["audio"]
    assert default.embedder.backend == "onnx"  # auto, on a CPU
    on_torch = load_encoder_on("yamnet-minilm", "torch")
    assert on_torch.embedder.backend == "torch"
    assert torch.allclose(default.embed_texts(CANDIDATES), on_torch.embed_texts(CANDIDATES), atol=1e-5, rtol=0)
    with pytest.raises(SettingsError, match="models.text_int8"):
        load_encoder_on("efficientnet-lite2-minilm", "torch", int8=True)


def load_encoder_on(spec: str, backend: str, int8: bool = False):
    from cgcap.encoders import load_encoder

    return load_encoder(spec, text_backend=backend, int8=int8)
