"""One caption request inside the decoder replica: remote scorers around the library's GuidedDecoder.

Runs in a worker thread (the loop is synchronous torch code), so the remote scorers may
block on their handles while the replica's event loop keeps serving other requests.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from cgcap.models import LoadedModel
from cgcap.serving.options import CaptionOptions, request_guide, video_mode
from cgcap.serving.remote import BatchTally, RemoteClassifier, RemoteEncoder
from cgcap.serving.schemas import CaptionResponse


def caption_with_remote_scorers(
    lm: LoadedModel,
    media: Any,
    options: CaptionOptions,
    encoder_handle: Any,
    encoder_specs: dict[str, str],
    classifier_handle: Any,
    request_id: str,
    filename: str | None = None,
    on_token: Callable[..., None] | None = None,
) -> CaptionResponse:
    """The same loop as ``Captioner.caption``, with the Encoder and Classifier deployments as scorers."""
    from cgcap.decoding import GuidedDecoder
    from cgcap.encoders import guiding_modalities, input_scorer
    from cgcap.metrics.similarity import guided_score_name

    started = time.perf_counter()
    tally = BatchTally()
    decoding, guide = request_guide(options, media)
    modality_scorer = None
    guided = guiding_modalities(media, video_mode(options)) if media is not None else []
    if media is not None and decoding.lambda_modality > 0:
        encoders = {modality: RemoteEncoder(encoder_handle, modality, spec, tally)
                    for modality, spec in encoder_specs.items()}
        modality_scorer = input_scorer(media, encoders, video_mode=video_mode(options))
    # No guide (λ1 = 0 for this modality) is plain ZeroCap: no classifier calls at all.
    classifier_scorer = RemoteClassifier(classifier_handle, guide.classifier, tally) if guide is not None else None
    scorers_ready = time.perf_counter()

    result = GuidedDecoder(lm, decoding).caption(modality_scorer, classifier_scorer, on_token=on_token)

    used_encoders = ({"audio", "image"} if media.modality == "video" else {media.modality}) if media is not None else set()
    model_ids = {"language_model": lm.spec, **({"classifier": guide.classifier} if guide is not None else {}),
                 **{f"{m}_encoder": spec for m, spec in encoder_specs.items() if m in used_encoders}}
    timings = {**result.timings, "scorer_setup": scorers_ready - started, "decoder_total": time.perf_counter() - started}
    return CaptionResponse(
        **{**result.model_dump(), "guide": guide, "input": filename, "modality": media.modality if media is not None else None,
           "timings": timings, "model_ids": {**result.model_ids, **model_ids},
           "modality_score_name": guided_score_name(guided, encoder_specs) if modality_scorer is not None else None,
           "settings": {**(result.settings or {"decoding": decoding.model_dump()}), "request_options": options.overrides},
           "warnings": list(getattr(media, "warnings", []))},
        request_id=request_id,
        batching=tally.summary(),
    )
