"""Predictions on disk, one JSONL part file per batch, so a killed job loses nothing.

Each part file is written to a temporary name, flushed to disk and renamed: a
part file is either whole or absent. A rerun reads the ids already written and
captions only the rest, so nothing is captioned or written twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel


class Prediction(BaseModel):
    """One item's caption and what only the actor, holding the item's media and the captioning models, can say
    about it. Every metric is computed from these fields (``cgcap.evaluation.scoring``)."""

    id: str
    caption: str | None = None  # the words after the prompt, as scored against references; None when it failed
    prompt: str | None = None  # the prompt as the caption writes it ("Audio of a", "Audio of an", "Image of a")
    # Exactly as the decoder returned it ("Audio of an alarm."): what hit, real words, well-formedness, fluency
    # and the judge read. The prompt and caption above, joined, may differ from it ("Audio of abell" is glued).
    caption_with_prompt: str | None = None
    error: str | None = None  # why the item has no caption: missing or unreadable media, ...
    modality: str | None = None
    input_caption_similarity: float | None = None  # cos(input, caption) per item: CLAP-S / CLIP-S, or SPEC-S for a tagger encoder
    modality_score: float | None = None  # the decoder's own score of prompt + caption
    classifier_score: float | None = None  # the guide classifier's P(wanted label)
    wanted_label: int | None = None  # the label this item's modality steers towards, which a judge scores too
    # Mean log-probability per caption token under the unsteered language model (cgcap.metrics.fluency).
    lm_logprob: float | None = None
    # The encoder's own words for the input (a tagger's top class names), space-separated; None for CLAP / CLIP.
    input_words: str | None = None
    seconds: float | None = None
    tokens: int | None = None  # caption tokens the decoder wrote
    ended_on_own: bool | None = None  # the caption ended with the end token, not at max_tokens
    model_ids: str | None = None  # JSON of CaptionResult.model_ids: the exact models behind the caption
    guide: str | None = None  # JSON of CaptionResult.guide: the classifier that steered this item; None at λ1 = 0

    @property
    def whole_caption(self) -> str | None:
        """The caption with its prompt, as the decoder returned it; rebuilt for rows written before it was kept."""
        if self.caption is None:
            return None
        return self.caption_with_prompt or " ".join(filter(None, (self.prompt, self.caption)))


class PredictionStore:
    """The ``predictions/`` folder of one evaluation's output folder."""

    def __init__(self, output: str | Path):
        self.folder = Path(output) / "predictions"

    def part_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("part-*.jsonl"))

    def read(self) -> list[Prediction]:
        """One row per id: a caption wins over the error of an earlier attempt at the same item."""
        rows: dict[str, Prediction] = {}
        for part in self.part_files():
            for line in part.read_text().splitlines():
                if line.strip():
                    row = Prediction.model_validate_json(line)
                    if row.id not in rows or (rows[row.id].caption is None and row.caption is not None):
                        rows[row.id] = row
        return list(rows.values())

    def done_ids(self) -> set[str]:
        """Items with a caption; failed ones (missing or unreadable media) are tried again on a rerun."""
        return {row.id for row in self.read() if row.caption is not None}

    def write_batch(self, predictions: Iterable[Prediction]) -> Path | None:
        """Write one batch as its own part file, atomically; returns its path (None if empty)."""
        rows = list(predictions)
        if not rows:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        # Named by its ids, so the same batch can never land under two names.
        digest = hashlib.sha1("\n".join(sorted(r.id for r in rows)).encode()).hexdigest()[:16]
        target = self.folder / f"part-{digest}.jsonl"
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        with partial.open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row.model_dump(), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        return target
