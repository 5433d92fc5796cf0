"""The Ray Data actor: one Captioner held in-process, captioning a batch of manifest rows.

Each item is captioned on its own, so one unreadable file costs one row (with the
error) rather than the batch or the job (issue 7).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from cgcap.config import Settings, build_settings
from cgcap.decoding.prompts import split_prompt
from cgcap.evaluation.predictions import Prediction

log = logging.getLogger(__name__)


class CaptioningActor:
    """Callable class for ``Dataset.map_batches``; built once per actor, reused for every batch.

    Items are captioned one at a time (batch size 1 inside the actor), so any failure
    costs its own row, with the reason, and never the batch.
    """

    def __init__(self, settings_data: dict[str, Any]):
        from cgcap.captioner import Captioner

        self.settings: Settings = build_settings(settings_data)
        self.captioner = Captioner.from_settings(self.settings)

    def __call__(self, batch):
        import pandas as pd

        rows = [self.caption_item(str(key), str(path)) for key, path in zip(batch["id"], batch["media_path"])]
        return pd.DataFrame([row.model_dump() for row in rows])

    def caption_item(self, key: str, path: str) -> Prediction:
        import torch

        from cgcap.data.media_types import MediaError

        started = time.perf_counter()
        try:
            try:
                return self._caption(key, path, started)
            except torch.OutOfMemoryError:
                # Another item's tensors may still hold the memory: free the cache and try this one once more.
                log.warning("out of memory on %s; retrying it once", key)
                _free_accelerator_memory()
                return self._caption(key, path, started)
        except (MediaError, OSError) as error:
            return Prediction(id=key, error=f"unreadable media: {error}")
        except Exception as error:  # noqa: BLE001 - one item's failure is that item's row, with its reason
            log.exception("captioning %s failed", key)
            _free_accelerator_memory()
            return Prediction(id=key, error=f"{type(error).__name__}: {error}"[:2000])

    def _caption(self, key: str, path: str, started: float) -> Prediction:
        from cgcap.data.media import decode_media
        from cgcap.metrics.grounding import ends_on_own

        name = Path(path).name
        media = decode_media(path, self.settings.limits, filename=name, video_frames=self.settings.media.video_frames)
        # One embedding of the input serves the decoder's modality term and the CLAP-S / CLIP-S metric.
        input_scorer = self.captioner.input_scorer(media)
        result = self.captioner.caption_media(media, name, modality_scorer=input_scorer)
        best = next((beam for beam in result.beams if beam.text == result.caption), None)
        prompt, caption = split_prompt(result.caption, result.prompt)  # the prompt as written: "Audio of an"
        return Prediction(
            id=key,
            caption=caption,
            prompt=prompt or result.prompt,
            modality=result.modality,
            input_caption_similarity=float(input_scorer.score([caption])[0]),
            modality_score=best.modality_score if best else None,
            classifier_score=best.classifier_score if best else None,
            seconds=time.perf_counter() - started,
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
