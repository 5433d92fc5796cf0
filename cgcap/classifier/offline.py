"""``minilm-l6-audibility``: an audibility classifier the offline profile can use on a fresh machine.

No package ships a trained audibility classifier, so on first load this fine-tunes the
packaged ``minilm-l6`` for under two minutes on the audibility sentences (found, or
fetched, by ``cgcap.classifier.audibility_data``) and caches the result as safetensors
under the model cache, like the SmolLM2 conversion in ``cgcap/models/packaged.py``: one process at a time, atomic rename.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cgcap.classifier.audibility_data import how_to_get
from cgcap.models.store import LoadedModel, ModelNotFoundError, cache_dir

if TYPE_CHECKING:
    from cgcap.classifier.training import TrainingSettings

log = logging.getLogger(__name__)

SPEC = "minilm-l6-audibility"
# A fixed share of the data rather than a time box, so the weights (and every caption the
# offline profile writes) are the same however busy the machine is (a time box stopped at
# 6 steps under load: ROC-AUC 0.63). Batches of sentences of similar length carry half the
# padded tokens of random ones, so 1.1 epochs (360 steps of 32) cost less than 0.8 epoch did
# at random: benchmarks/classifier.py --first-load, 2 threads, load average 2.0 (its own): 90 s,
# test accuracy 0.970 (0.976 with seed 1), ROC-AUC 0.994, against 114 s, 0.966, 0.993 for 0.8 epoch at random
# (1.2 epochs: 0.974 in 122 s). Batches of 16 with the token embeddings fixed took 43% less
# CPU time on 1 thread, but 219 s on 2 threads: twice the steps, each too small to share.
FIRST_LOAD_EPOCHS = 1.1
# Its wall time on 2 idle cores, for the estimate announced before it starts.
FIRST_LOAD_SECONDS = 95.0
# The decoder's candidates start with "Audio of a"; trained without this prefix, MiniLM calls
# 21% of "Audio of a " + test sentences wrong (accuracy 0.79 vs 0.975 trained with it).
PREFIX = "Audio of a "


def cached_folder() -> Path:
    return cache_dir() / "models" / SPEC


def _is_cached() -> bool:
    return (cached_folder() / "model.safetensors").is_file()


def find_audibility_data() -> tuple[Path, Path] | None:
    """(positives, negatives): see ``cgcap.classifier.audibility_data`` for where they are looked for."""
    from cgcap.classifier import audibility_data

    return audibility_data.find()


def why_not_available() -> str | None:
    if _is_cached():
        return None
    from cgcap.models.packaged import minilm_missing

    if (reason := minilm_missing()) is not None:
        return f"not trained yet, and its base minilm-l6 is missing: {reason}"
    if find_audibility_data() is None:
        return "not trained yet, and no audibility sentences were found to train it on: " + how_to_get()
    return None


def trained_folder() -> Path:
    """The cached classifier, trained on first use."""
    from cgcap.models.prepare import build_once, estimate_seconds

    return build_once(cached_folder(), lambda folder: (folder / "model.safetensors").is_file(), _train_into,
                      f"fine-tuning {SPEC} on the audibility sentences",
                      estimate_seconds(FIRST_LOAD_SECONDS, threads=_training_threads()))


def _training_threads() -> int:
    """Every core this process may use: a Ray actor runs with one torch thread (OMP_NUM_THREADS=1 for
    num_cpus=1), which made the one-off fine-tune inside the main job 2.5 min instead of 1.5."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def first_load_settings() -> "TrainingSettings":
    """The first-load recipe; ``benchmarks/classifier.py --first-load`` times it and its variants."""
    from cgcap.classifier.training import TrainingSettings

    return TrainingSettings(base="minilm-l6", prefix=PREFIX, epochs=FIRST_LOAD_EPOCHS, batch_size=32,
                            learning_rate=1e-4, group_by_length=True, device="cpu")


def _train_into(partial: Path) -> None:
    from cgcap.classifier.data import load_dataset
    from cgcap.classifier.training import train_classifier

    found = find_audibility_data()
    if found is None:
        raise ModelNotFoundError(f"{SPEC} is not trained yet and no audibility sentences were found: " + how_to_get())
    log.info("training %s on %s and %s", SPEC, *found)
    try:
        dataset = load_dataset(*found)
    except ValueError as error:  # DatasetError: empty, binary, single-class files ...
        raise ModelNotFoundError(f"{SPEC} cannot be trained on {found[0].parent}: {error}") from None
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, _training_threads()))  # once, before anything else runs here
    try:
        trained = train_classifier(dataset, first_load_settings(), partial)
    finally:
        torch.set_num_threads(threads)
    log.info("%s: test accuracy %.4f, ROC-AUC %.4f after %.0f s of training",
             SPEC, trained.test.accuracy, trained.test.roc_auc, trained.train_seconds)


def load_audibility_classifier(spec: str, seed: int) -> LoadedModel:
    from cgcap.models.hf import load_pretrained

    loaded = load_pretrained(str(trained_folder()), "sequence-classifier")
    loaded.spec = spec
    return loaded
