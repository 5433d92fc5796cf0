"""The Ray Data actor: one Captioner held in-process, captioning a batch of manifest rows.

Each item is captioned on its own, so one unreadable file costs one row (with the
error) rather than the batch or the job (issue 7).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from cgcap.config import Settings, build_settings
from cgcap.decoding.prompts import without_prompt
from cgcap.evaluation.predictions import Prediction

# Workers import transformers: fail fast with no hub, as the CLI does (OFFLINE.md); HF_HUB_OFFLINE=0 opts in.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger(__name__)


class CaptioningActor:
    """Callable class for ``Dataset.map_batches``; built once per actor, reused for every batch."""

    def __init__(self, settings_data: dict[str, Any]):
        from cgcap.captioner import Captioner

        self.settings: Settings = build_settings(settings_data)
        self.captioner = Captioner.from_settings(self.settings)
        self._encoders: dict[str, Any] | None = None

    def __call__(self, batch):
        import pandas as pd

        rows = [self.caption_item(str(key), str(path)) for key, path in zip(batch["id"], batch["media_path"])]
        return pd.DataFrame([row.model_dump() for row in rows])

    def caption_item(self, key: str, path: str) -> Prediction:
        from cgcap.data.media import MediaError
        from cgcap.metrics.grounding import ends_on_own

        started = time.perf_counter()
        try:
            result = self.captioner.caption(path, filename=Path(path).name)
        except (MediaError, OSError) as error:
            # Unreadable media: reported and counted, not fatal.
            return Prediction(id=key, error=f"unreadable media: {error}")
        best = next((beam for beam in result.beams if beam.text == result.caption), None)
        caption = without_prompt(result.caption, result.prompt)
        return Prediction(
            id=key,
            caption=caption,
            prompt=result.prompt,
            modality=result.modality,
            input_caption_similarity=self.similarity(path, caption),
            modality_score=best.modality_score if best else None,
            classifier_score=best.classifier_score if best else None,
            seconds=time.perf_counter() - started,
            ended_on_own=ends_on_own(result),
            model_ids=json.dumps(result.model_ids),
            guide=result.guide.model_dump_json() if result.guide is not None else None,
        )

    def encoders(self) -> dict[str, Any]:
        # Reuse the captioner's encoders when it exposes them: they are already loaded.
        if self._encoders is None:
            self._encoders = getattr(self.captioner, "encoders", None)
        if self._encoders is None:
            from cgcap.encoders import load_encoder

            device = self.settings.models.device
            self._encoders = {
                "audio": load_encoder(self.settings.models.audio_encoder, device=device),
                "image": load_encoder(self.settings.models.image_encoder, device=device),
            }
        return self._encoders

    def similarity(self, path: str, caption: str) -> float | None:
        """cos(input, caption) with the modality encoders (reported as CLAP-S, CLIP-S or the tagger's SPEC-S)."""
        from cgcap.data.media import decode_media
        from cgcap.encoders import input_scorer

        media = decode_media(path, self.settings.limits, filename=Path(path).name,
                             video_frames=self.settings.media.video_frames)
        scorer = input_scorer(media, self.encoders(), video_mode=self.settings.media.video_mode)
        return float(scorer.score([caption])[0])
