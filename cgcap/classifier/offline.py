"""``minilm-l6-audibility``: an audibility classifier the offline profile can use on a fresh machine.

No package ships a trained audibility classifier, so on first load this fine-tunes the
packaged ``minilm-l6`` for about two minutes on the audibility sentences (found at
``$CGCAP_AUDIBILITY_DATA`` or ``../shared/data/audibility`` beside the repository or the
working folder) and caches the result as safetensors under the model cache, like the
SmolLM2 conversion in ``cgcap/models/packaged.py``: one process at a time, atomic rename.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cgcap.models.store import LoadedModel, ModelEntry, ModelNotFoundError, cache_dir, register

log = logging.getLogger(__name__)

SPEC = "minilm-l6-audibility"
DATA_ENV = "CGCAP_AUDIBILITY_DATA"
# Sentence files: the names here, then the published repository's names.
POSITIVE_NAMES = ("audible.txt",)
NEGATIVE_NAMES = ("not_audible.txt", "notAudible.txt")
# A fixed share of one epoch rather than a time box, so the weights (and every caption the
# offline profile writes) are the same however busy the machine is: ~260 steps, about
# 2 minutes on 2 idle cores (a time box stopped at 6 steps under load: ROC-AUC 0.63).
FIRST_LOAD_EPOCHS = 0.8
# Its wall time on 2 idle cores, for the estimate announced before it starts.
FIRST_LOAD_SECONDS = 120.0
# The decoder's candidates start with "Audio of a"; trained without this prefix, MiniLM calls
# 21% of "Audio of a " + test sentences wrong (accuracy 0.79 vs 0.975 trained with it).
PREFIX = "Audio of a "

_WHERE = (
    f"put audible.txt and not_audible.txt (one sentence a line) in a folder and set {DATA_ENV} to it, or place them "
    "in ../shared/data/audibility beside the repository. The public set is in the repository "
    "arielshaulov/zero-shot-audio-captioning, folder audibility-dataset/ (audible.txt, notAudible.txt): "
    "git clone https://github.com/arielshaulov/zero-shot-audio-captioning && "
    f"export {DATA_ENV}=$PWD/zero-shot-audio-captioning/audibility-dataset"
)


def cached_folder() -> Path:
    return cache_dir() / "models" / SPEC


def _is_cached() -> bool:
    return (cached_folder() / "model.safetensors").is_file()


def _first_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def find_audibility_data() -> tuple[Path, Path] | None:
    """(positives, negatives) from ``$CGCAP_AUDIBILITY_DATA`` if set (only there), else beside the repository
    or beside the working folder."""
    if os.environ.get(DATA_ENV):
        candidates = [Path(os.environ[DATA_ENV]).expanduser()]
    else:
        repository = Path(__file__).resolve().parents[2]
        candidates = [repository.parent / "shared" / "data" / "audibility",
                      Path.cwd().parent / "shared" / "data" / "audibility"]
    for folder in candidates:
        positives, negatives = _first_file(folder, POSITIVE_NAMES), _first_file(folder, NEGATIVE_NAMES)
        if positives and negatives:
            return positives, negatives
    return None


def _why_not_available() -> str | None:
    if _is_cached():
        return None
    from cgcap.models.packaged import _minilm_missing

    if (reason := _minilm_missing()) is not None:
        return f"not trained yet, and its base minilm-l6 is missing: {reason}"
    if find_audibility_data() is None:
        return "not trained yet, and no audibility sentences were found to train it on: " + _WHERE
    return None


def trained_folder() -> Path:
    """The cached classifier, trained on first use."""
    from cgcap.models.prepare import build_once, estimate_seconds

    return build_once(cached_folder(), lambda folder: (folder / "model.safetensors").is_file(), _train_into,
                      f"fine-tuning {SPEC} on the audibility sentences", estimate_seconds(FIRST_LOAD_SECONDS))


def _train_into(partial: Path) -> None:
    from cgcap.classifier.data import load_dataset
    from cgcap.classifier.training import TrainingSettings, train_classifier

    found = find_audibility_data()
    if found is None:
        raise ModelNotFoundError(f"{SPEC} is not trained yet and no audibility sentences were found: " + _WHERE)
    log.info("training %s on %s and %s", SPEC, *found)
    try:
        dataset = load_dataset(*found)
    except ValueError as error:  # DatasetError: empty, binary, single-class files ...
        raise ModelNotFoundError(f"{SPEC} cannot be trained on {found[0].parent}: {error}") from None
    settings = TrainingSettings(base="minilm-l6", prefix=PREFIX, epochs=FIRST_LOAD_EPOCHS, learning_rate=1e-4,
                                device="cpu")
    trained = train_classifier(dataset, settings, partial)
    log.info("%s: test accuracy %.4f, ROC-AUC %.4f after %.0f s of training",
             SPEC, trained.test.accuracy, trained.test.roc_auc, trained.train_seconds)


def _load(spec: str, seed: int) -> LoadedModel:
    from cgcap.models.hf import load_pretrained

    loaded = load_pretrained(str(trained_folder()), "sequence-classifier")
    loaded.spec = spec
    return loaded


register(ModelEntry(
    SPEC, "sequence-classifier",
    "all-MiniLM-L6-v2 fine-tuned on the audibility sentences on first load (~2 min), then cached",
    _load, _why_not_available,
))
