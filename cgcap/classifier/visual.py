"""``minilm-l6-visual``: the offline profile's image classifier (label 1 = can be seen), made in seconds.

A logistic-regression head on the frozen all-MiniLM-L6-v2 sentence embedding (the space the
taggers already use), trained on first load and cached as safetensors beside a
``cgcap_classifier.json``, like ``minilm-l6-audibility``. A head instead of a fine-tune,
because the whole first-run preparation must stay within two minutes and the audibility
fine-tune already takes most of them.

What it learns from (``training_sentences``):

- the visual / not-visual sentences that ship in ``cgcap/classifier/visual_data`` (written by the
  packaged SmolLM2-135M-Instruct with ``generate-data --local``, filtered; provenance there);
- because SmolLM2 keeps only a few hundred of them, a fixed sample of the audibility
  sentences found on this machine: ``audible.txt`` (sounds) as more "cannot be seen"
  sentences, and ``not_audible.txt`` sentences that name no sense (mostly sights) as more
  "can be seen" ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file

from cgcap.models.store import LoadedModel, ModelNotFoundError, cache_dir

if TYPE_CHECKING:
    import numpy as np

    from cgcap.classifier.data import LabelledDataset

log = logging.getLogger(__name__)

SPEC = "minilm-l6-visual"
DATA_FOLDER = Path(__file__).parent / "visual_data"
POSITIVES, NEGATIVES = DATA_FOLDER / "visual.txt", DATA_FOLDER / "not_visual.txt"
# The decoder's image candidates start with "Image of a" (like "Audio of a " for the audibility classifier).
PREFIX = "Image of a "
# Audibility sentences drawn per file: enough to outnumber the shipped ones, few enough to embed in seconds.
AUDIBILITY_SAMPLE = 1500
SEED = 0
# Inverse regularisation strengths tried; the one with the lowest validation log-loss is kept.
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
RECIPE = "v1"  # part of the cache key: a change of recipe retrains
# Measured on 2 idle cores (embedding ~3,300 sentences on ONNX Runtime, then the head); scaled when announced
# (6 s on one thread in the main job's actor).
FIRST_LOAD_SECONDS = 3.5


class EmbeddingClassifier(torch.nn.Module):
    """Two logits from a linear head on the L2-normalised mean of an encoder's last hidden states.

    It answers like a ``...ForSequenceClassification`` model (``model(input_ids=, attention_mask=).logits``),
    so ``TextClassifier`` scores with it on torch or ONNX Runtime alike.
    """

    def __init__(self, encoder: torch.nn.Module, head: torch.nn.Linear):
        from cgcap.models.onnx_text import MeanPooled

        super().__init__()
        self.pooled = MeanPooled(encoder)  # the sentence embedder's pooling, before its L2 normalisation
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_):
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embedding = torch.nn.functional.normalize(self.pooled(input_ids, attention_mask), dim=-1)
        return SequenceClassifierOutput(logits=self.head(embedding.to(self.head.weight.dtype)))


def _shipped_digest() -> str:
    digest = hashlib.sha256(RECIPE.encode())
    for path in (POSITIVES, NEGATIVES):
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:12]


def cached_folder() -> Path:
    """Keyed by the shipped sentences and the recipe, so a new release of either retrains."""
    return cache_dir() / "models" / f"{SPEC}-{_shipped_digest()}"


def _is_cached(folder: Path) -> bool:
    return (folder / "head.safetensors").is_file()


def why_not_available() -> str | None:
    if _is_cached(cached_folder()):
        return None
    from cgcap.classifier.audibility_data import how_to_get
    from cgcap.classifier.offline import find_audibility_data
    from cgcap.models.packaged import minilm_missing

    if (reason := minilm_missing()) is not None:
        return f"not trained yet, and its base minilm-l6 is missing: {reason}"
    if not (POSITIVES.is_file() and NEGATIVES.is_file()):
        return f"not trained yet, and its sentences are missing from the installed package ({DATA_FOLDER})"
    if find_audibility_data() is None:
        return "not trained yet, and no audibility sentences were found to add to its own: " + how_to_get()
    return None


def names_a_sense(sentence: str) -> bool:
    from cgcap.classifier.local_generation import NOT_VISUAL_WORDS, words_of

    return bool(NOT_VISUAL_WORDS.intersection(words_of(sentence)))


def training_sentences() -> tuple[list[str], list[str], dict[str, int]]:
    """(label 1, label 0, where they came from): the shipped sentences and a seeded audibility sample."""
    from cgcap.classifier.data import read_sentences
    from cgcap.classifier.offline import find_audibility_data

    found = find_audibility_data()
    if found is None:
        raise ModelNotFoundError(f"{SPEC}: {why_not_available()}")
    audible, not_audible = (read_sentences(path) for path in found)
    rng = random.Random(SEED)
    sights = [s for s in sorted(not_audible) if not names_a_sense(s)]
    extra_positive = rng.sample(sights, min(AUDIBILITY_SAMPLE, len(sights)))
    extra_negative = rng.sample(sorted(audible), min(AUDIBILITY_SAMPLE, len(audible)))
    positives, negatives = read_sentences(POSITIVES), read_sentences(NEGATIVES)
    sources = {"shipped visual": len(positives), "shipped not visual": len(negatives),
               "not_audible.txt naming no sense": len(extra_positive), "audible.txt": len(extra_negative)}
    return positives + extra_positive, negatives + extra_negative, sources


def labelled_dataset() -> tuple["LabelledDataset", dict[str, int]]:
    """The training sentences cleaned and split (seeded): the test split is what it never trained on."""
    from cgcap.classifier.data import clean, split

    positives, negatives, sources = training_sentences()
    return split(*clean(positives, negatives)), sources


def trained_folder() -> Path:
    from cgcap.models.prepare import build_once, estimate_seconds

    return build_once(cached_folder(), _is_cached, _train_into,
                      f"training {SPEC} (a logistic-regression head on MiniLM sentence embeddings)",
                      estimate_seconds(FIRST_LOAD_SECONDS))


def fit_head(train: np.ndarray, train_labels: list[int], validation: np.ndarray,
             validation_labels: list[int]) -> tuple[torch.nn.Linear, float]:
    """The logistic regression (classes weighted equally) whose C has the lowest validation log-loss, as two logits."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    best = None
    for c in C_GRID:
        fitted = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(train, train_labels)
        loss = log_loss(validation_labels, fitted.predict_proba(validation)[:, 1], labels=[0, 1])
        if best is None or loss < best[0]:
            best = (loss, c, fitted)
    _, c, fitted = best
    head = torch.nn.Linear(train.shape[1], 2)
    with torch.no_grad():  # softmax([0, z])[1] = sigmoid(z): label 0's logit stays 0
        head.weight.copy_(torch.from_numpy(np.stack([np.zeros(train.shape[1]), fitted.coef_[0]])).float())
        head.bias.copy_(torch.tensor([0.0, float(fitted.intercept_[0])]))
    return head, c


def _train_into(partial: Path) -> None:
    import time

    from cgcap.classifier.evaluation import classification_metrics
    from cgcap.classifier.model import METADATA_FILE, ClassifierMetadata
    from cgcap.models.taggers import sentence_embedder

    started = time.perf_counter()
    dataset, sources = labelled_dataset()
    embedder = sentence_embedder().on_backend("auto")

    def embed(texts: list[str]):
        return embedder.embed_texts([PREFIX + text for text in texts]).numpy()

    train, validation, test = (embed(part.texts) for part in (dataset.train, dataset.validation, dataset.test))
    head, c = fit_head(train, dataset.train.labels, validation, dataset.validation.labels)
    with torch.no_grad():
        scores = torch.softmax(head(torch.from_numpy(test)), dim=-1)[:, 1]
    metrics = classification_metrics(dataset.test.labels, scores.tolist())
    save_file(head.state_dict(), str(partial / "head.safetensors"))
    metadata = ClassifierMetadata(base="minilm-l6", prefix=PREFIX, dataset_hash=dataset.dataset_hash,
                                  split_seed=dataset.split_seed, label_names=["cannot be seen", "can be seen"],
                                  test_metrics=metrics.model_dump())
    (partial / METADATA_FILE).write_text(metadata.model_dump_json(indent=2))
    (partial / "training.json").write_text(json.dumps(
        {"sources": sources, "counts": dataset.counts.model_dump(), "c": c,
         "seconds": round(time.perf_counter() - started, 1)}, indent=2))
    log.info("%s: test accuracy %.4f, ROC-AUC %.4f (C=%s) after %.1f s", SPEC, metrics.accuracy, metrics.roc_auc, c,
             time.perf_counter() - started)


def load_visual_classifier(spec: str, seed: int) -> LoadedModel:
    from transformers import AutoModel, AutoTokenizer

    from cgcap.models.packaged import minilm_folder

    folder = trained_folder()
    base = minilm_folder()
    state = load_file(str(folder / "head.safetensors"))
    head = torch.nn.Linear(state["weight"].shape[1], 2)
    head.load_state_dict(state)
    # Its own copy of MiniLM, not the taggers' shared one: TextClassifier may move it or halve it on a GPU.
    model = EmbeddingClassifier(AutoModel.from_pretrained(base), head).eval()
    return LoadedModel(spec, "sequence-classifier", model, tokenizer=AutoTokenizer.from_pretrained(base),
                       source=str(folder))
