"""Labelled sentences for the guidance classifier: reading, cleaning, splitting, hashing.

Two text files (one sentence a line: label 1 and label 0) or one JSONL of
``{"text": ..., "label": 0|1}``. Cleaning drops repeated sentences and any sentence
found in both classes (it cannot teach either). The split is stratified and seeded,
and the hash of the cleaned data names the dataset, so two trainings know whether
their test splits are the same (the champion rule in ``registry.py``).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from pydantic import BaseModel, Field

MAX_SENTENCE_CHARS = 1000
MIN_PER_CLASS = 5  # enough for one example of each class in every split


class DatasetError(ValueError):
    """A data file was refused; the message names the file, the line and the problem."""


class DatasetCounts(BaseModel):
    """What cleaning did, reported by the CLI and logged to MLflow."""

    read_positive: int
    read_negative: int
    duplicates_dropped: int
    conflicts_dropped: int
    positive: int
    negative: int
    train: int = 0
    validation: int = 0
    test: int = 0


class Split(BaseModel):
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def with_prefix(self, prefix: str) -> "Split":
        """The published code trains on "Audio of a " + sentence, like the decoder's candidates."""
        return Split(texts=[prefix + text for text in self.texts], labels=list(self.labels))


class SplitSettings(BaseModel):
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    seed: int = Field(0, ge=0)


class LabelledDataset(BaseModel):
    """Cleaned sentences, their stratified split and the hash that identifies them."""

    train: Split
    validation: Split
    test: Split
    counts: DatasetCounts
    dataset_hash: str
    split_settings: SplitSettings

    @property
    def split_seed(self) -> int:
        return self.split_settings.seed


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"data file {path} does not exist or is not a regular file")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise DatasetError(f"data file {path} is binary (it holds NUL bytes); expected UTF-8 text, one sentence a line")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"data file {path} is not UTF-8 text (byte {error.start} cannot be decoded); expected one sentence a line"
        ) from None
    return text


def _check_sentence(path: Path, number: int, sentence: str, max_chars: int) -> str:
    sentence = " ".join(sentence.split())  # the same sentence with other spacing is a duplicate
    if len(sentence) > max_chars:
        raise DatasetError(
            f"{path} line {number}: sentence is {len(sentence)} characters long, over the limit of {max_chars}; "
            "is this a sentence-per-line file?"
        )
    return sentence


def read_sentences(path: str | Path, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Non-blank lines of a UTF-8 text file, whitespace normalised; refuses empty, binary, over-long."""
    path = Path(path)
    sentences = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if line.strip():
            sentences.append(_check_sentence(path, number, line, max_chars))
    if not sentences:
        raise DatasetError(f"data file {path} is empty: it has no sentences")
    return sentences


def read_jsonl(path: str | Path, max_chars: int = MAX_SENTENCE_CHARS) -> tuple[list[str], list[str]]:
    """``{"text", "label"}`` lines -> (label-1 sentences, label-0 sentences)."""
    path = Path(path)
    positives: list[str] = []
    negatives: list[str] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path} line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            raise DatasetError(f"{path} line {number}: expected an object with a non-empty string \"text\"")
        label = record.get("label")
        if isinstance(label, bool) or label not in (0, 1):
            raise DatasetError(f"{path} line {number}: \"label\" must be 0 or 1, got {label!r}")
        (positives if label == 1 else negatives).append(_check_sentence(path, number, record["text"], max_chars))
    if not positives and not negatives:
        raise DatasetError(f"data file {path} is empty: it has no records")
    return positives, negatives


def _dedupe(sentences: list[str]) -> list[str]:
    return list(dict.fromkeys(sentences))


def clean(positives: list[str], negatives: list[str]) -> tuple[list[str], list[str], DatasetCounts]:
    """Drop repeats within a class, then sentences found in both classes."""
    unique_positive, unique_negative = _dedupe(positives), _dedupe(negatives)
    conflicts = set(unique_positive) & set(unique_negative)
    kept_positive = [s for s in unique_positive if s not in conflicts]
    kept_negative = [s for s in unique_negative if s not in conflicts]
    counts = DatasetCounts(
        read_positive=len(positives),
        read_negative=len(negatives),
        duplicates_dropped=(len(positives) - len(unique_positive)) + (len(negatives) - len(unique_negative)),
        conflicts_dropped=len(conflicts),
        positive=len(kept_positive),
        negative=len(kept_negative),
    )
    for name, kept in (("label 1 (positives)", kept_positive), ("label 0 (negatives)", kept_negative)):
        if len(kept) < MIN_PER_CLASS:
            raise DatasetError(
                f"only {len(kept)} sentences of {name} after cleaning (read {counts.read_positive} positive, "
                f"{counts.read_negative} negative; {counts.conflicts_dropped} in both classes): a binary classifier "
                f"needs both classes, at least {MIN_PER_CLASS} sentences each"
            )
    return kept_positive, kept_negative, counts


def dataset_hash(positives: list[str], negatives: list[str]) -> str:
    """sha256 of the cleaned, sorted (label, sentence) pairs: independent of file order and format."""
    digest = hashlib.sha256()
    for label, sentences in ((1, positives), (0, negatives)):
        for sentence in sorted(sentences):
            digest.update(f"{label}\t{sentence}\n".encode())
    return digest.hexdigest()


def _split_class(sentences: list[str], settings: SplitSettings, rng: random.Random) -> tuple[list, list, list]:
    shuffled = sorted(sentences)  # the file's order must not change the split
    rng.shuffle(shuffled)
    n_test = max(1, round(len(shuffled) * settings.test_fraction))
    n_validation = max(1, round(len(shuffled) * settings.validation_fraction))
    return shuffled[n_test + n_validation:], shuffled[n_test:n_test + n_validation], shuffled[:n_test]


def split(positives: list[str], negatives: list[str], counts: DatasetCounts,
          settings: SplitSettings = SplitSettings()) -> LabelledDataset:
    """Stratified: each class is split in the same proportions with the same seed."""
    rng = random.Random(settings.seed)
    parts: dict[str, Split] = {name: Split(texts=[], labels=[]) for name in ("train", "validation", "test")}
    for label, sentences in ((1, positives), (0, negatives)):
        for name, chunk in zip(("train", "validation", "test"), _split_class(sentences, settings, rng)):
            parts[name].texts.extend(chunk)
            parts[name].labels.extend([label] * len(chunk))
    for name, part in parts.items():  # interleave the classes, reproducibly
        order = list(range(len(part)))
        random.Random(settings.seed + 1).shuffle(order)
        parts[name] = Split(texts=[part.texts[i] for i in order], labels=[part.labels[i] for i in order])
    counts = counts.model_copy(update={name: len(part) for name, part in parts.items()})
    return LabelledDataset(
        **parts, counts=counts, dataset_hash=dataset_hash(positives, negatives), split_settings=settings
    )


def load_dataset(
    positives: str | Path | None = None,
    negatives: str | Path | None = None,
    jsonl: str | Path | None = None,
    split_settings: SplitSettings = SplitSettings(),
    max_chars: int = MAX_SENTENCE_CHARS,
) -> LabelledDataset:
    """Read two sentence files or one JSONL, clean, split; refuses bad files with the reason."""
    if jsonl is not None:
        if positives is not None or negatives is not None:
            raise DatasetError("give either a JSONL file or positive and negative sentence files, not both")
        read_positive, read_negative = read_jsonl(jsonl, max_chars)
    else:
        if positives is None or negatives is None:
            raise DatasetError("give both a positives file (label 1) and a negatives file (label 0), or one JSONL file")
        read_positive, read_negative = read_sentences(positives, max_chars), read_sentences(negatives, max_chars)
    kept_positive, kept_negative, counts = clean(read_positive, read_negative)
    return split(kept_positive, kept_negative, counts, split_settings)


def evaluation_split(positives: str | Path, negatives: str | Path, max_chars: int = MAX_SENTENCE_CHARS) -> tuple[Split, DatasetCounts]:
    """All cleaned sentences of two files as one split, for ``cgcap classifier evaluate``."""
    kept_positive, kept_negative, counts = clean(read_sentences(positives, max_chars), read_sentences(negatives, max_chars))
    return Split(texts=kept_positive + kept_negative, labels=[1] * len(kept_positive) + [0] * len(kept_negative)), counts
