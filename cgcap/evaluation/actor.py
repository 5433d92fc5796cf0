"""The Ray Data actor: one Captioner held in-process, captioning a batch of manifest rows together.

Each file is read and embedded on its own, so an unreadable file costs only its own row,
with the reason. The readable ones are then decoded together, ``evaluation.decode_batch``
at a time, in one loop whose language-model passes they share; if that loop fails, its
inputs are captioned again one by one, so one bad input cannot fail its neighbours.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from cgcap.config import Settings, build_settings
from cgcap.decoding.articles import split_prompt
from cgcap.decoding.result import CaptionResult
from cgcap.evaluation.predictions import Prediction

if TYPE_CHECKING:
    from cgcap.captioner import Captioner

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """An input read and embedded, waiting for its caption."""

    key: str
    name: str
    media: Any
    scorer: Any  # the input's modality scorer: guides the decoder and gives CLAP-S / CLIP-S
    seconds: float  # reading and embedding it


class CaptioningActor:
    """Callable class for ``Dataset.map_batches``; built once per actor, reused for every batch."""

    def __init__(self, settings_data: dict[str, Any], captioner: "Captioner | None" = None):
        """``captioner``: one already holding these settings and their loaded models (a run in this process
        shares them); by default the actor loads its own."""
        from cgcap.captioner import Captioner

        self.settings: Settings = build_settings(settings_data)
        self.captioner = captioner if captioner is not None else Captioner.from_settings(self.settings)
        self.decode_batch = self.settings.evaluation.decode_batch_for(self.captioner.device)

    def __call__(self, batch):
        import pandas as pd

        rows = self.caption_items([(str(key), str(path)) for key, path in zip(batch["id"], batch["media_path"])])
        return pd.DataFrame([row.model_dump() for row in rows])

    def caption_items(self, items: list[tuple[str, str]]) -> list[Prediction]:
        """One row per (id, media path), in order: decoded ``decode_batch`` at a time."""
        rows: dict[str, Prediction] = {}
        ready: list[Prepared] = []
        for key, path in items:
            prepared = self._guarded(key, lambda: self._prepare(key, path))
            if isinstance(prepared, Prediction):
                rows[key] = prepared
            else:
                ready.append(prepared)
        for start in range(0, len(ready), self.decode_batch):
            group = ready[start:start + self.decode_batch]
            for row in self._caption_together(group):
                rows[row.id] = row
        return [rows[key] for key, _ in items]

    def caption_item(self, key: str, path: str) -> Prediction:
        """One input alone, start to end."""
        return self.caption_items([(key, path)])[0]

    def _caption_together(self, group: list[Prepared]) -> list[Prediction]:
        if len(group) == 1:
            item = group[0]
            return [self._guarded(item.key, lambda: self._caption_alone(item))]
        started = time.perf_counter()
        try:
            results = self.captioner.caption_media_batch([item.media for item in group], [item.name for item in group],
                                                         modality_scorers=[item.scorer for item in group])
        except Exception as error:  # noqa: BLE001 - the batch's failure must not become its neighbours' failure
            log.warning("captioning %d inputs together failed (%s: %s); captioning them one by one",
                        len(group), type(error).__name__, error)
            _free_accelerator_memory()
            return [self._guarded(item.key, lambda item=item: self._caption_alone(item)) for item in group]
        # Each caption's share of the loop they shared, plus its own reading and embedding.
        shared = (time.perf_counter() - started) / len(group)
        log_probs = self._log_probabilities(results)
        return [self._row(item, result, item.seconds + shared, log_prob)
                for item, result, log_prob in zip(group, results, log_probs)]

    def _caption_alone(self, item: Prepared) -> Prediction:
        started = time.perf_counter()
        try:
            result = self.captioner.caption_media(item.media, item.name, modality_scorer=item.scorer)
        except self._out_of_memory():
            # Another item's tensors may still hold the memory: free the cache and try this one once more.
            log.warning("out of memory on %s; retrying it once", item.key)
            _free_accelerator_memory()
            result = self.captioner.caption_media(item.media, item.name, modality_scorer=item.scorer)
        return self._row(item, result, item.seconds + time.perf_counter() - started,
                         self._log_probabilities([result])[0])

    @staticmethod
    def _out_of_memory() -> type[BaseException]:
        import torch

        return torch.OutOfMemoryError

    def _guarded(self, key: str, work: Callable[[], Any]) -> Any:
        """``work()``, or the item's error row: any failure is that item's row, with its reason."""
        from cgcap.data.media_types import MediaError

        try:
            return work()
        except (MediaError, OSError) as error:
            return Prediction(id=key, error=f"unreadable media: {error}")
        except Exception as error:  # noqa: BLE001 - one item's failure is that item's row, with its reason
            log.exception("captioning %s failed", key)
            _free_accelerator_memory()
            return Prediction(id=key, error=f"{type(error).__name__}: {error}"[:2000])

    def _prepare(self, key: str, path: str) -> Prepared:
        from cgcap.data.media import decode_media

        started = time.perf_counter()
        name = Path(path).name
        media = decode_media(path, self.settings.limits, filename=name, video_frames=self.settings.media.video_frames)
        # One embedding of the input serves the decoder's modality term and the CLAP-S / CLIP-S metric.
        scorer = self.captioner.input_scorer(media)
        return Prepared(key, name, media, scorer, time.perf_counter() - started)

    def _log_probabilities(self, results: list[CaptionResult]) -> list[float | None]:
        """Each caption's mean log-probability per token under the unsteered LM: one pass for the group."""
        from cgcap.metrics.fluency import mean_log_probabilities

        return mean_log_probabilities(self.captioner.lm, [(result.caption, result.prompt) for result in results])

    def _row(self, item: Prepared, result: CaptionResult, seconds: float, log_prob: float | None) -> Prediction:
        """The item's prediction, with the figures that need its input or the captioning models."""
        from cgcap.metrics.grounding import ends_on_own

        best = next((beam for beam in result.beams if beam.text == result.caption), None)
        prompt, caption = split_prompt(result.caption, result.prompt)  # the prompt as written: "Audio of an"
        words = getattr(item.scorer, "content_words", None)
        return Prediction(
            id=item.key,
            caption=caption,
            prompt=prompt or result.prompt,
            caption_with_prompt=result.caption,
            modality=result.modality,
            input_caption_similarity=float(item.scorer.score([caption])[0]),
            modality_score=best.modality_score if best else None,
            classifier_score=best.classifier_score if best else None,
            wanted_label=result.settings["decoding"]["wanted_label"],
            lm_logprob=log_prob,
            input_words=" ".join(words) if words else None,
            seconds=seconds,
            tokens=int(result.timings.get("tokens", 0)),
            ended_on_own=ends_on_own(result),
            model_ids=json.dumps(result.model_ids),
            guide=result.guide.model_dump_json() if result.guide is not None else None,
        )


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
