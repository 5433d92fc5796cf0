"""The one captioning engine: media in, caption out, for the CLI, the evaluation jobs and the service.

The scorers are seams: in-process models here (loaded on first use), remote Serve
deployments in the service (``cgcap.serving.remote.remote_captioner``). Which of them
guide a caption is decided by ``cgcap.decoding.plan``, nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cgcap.config import Settings, with_decoding
from cgcap.decoding import CaptionResult, GuidedDecoder
from cgcap.decoding.decoder import CaptionJob, StopCheck, TokenCallback, caption_together
from cgcap.decoding.plan import GuidancePlan, plan_guidance
from cgcap.decoding.scoring import CandidateScorer
from cgcap.models import LoadedModel, load, resolve_device


class LazyEncoders(Mapping):
    """``{"audio": ..., "image": ...}``, each encoder loaded on first use: an audio-only job never loads CLIP."""

    def __init__(self, specs: dict[str, str], device: str, text_backend: str = "auto", int8: bool = False):
        self.specs = specs
        self.device = device
        self.text_backend = {"text_backend": text_backend, "int8": int8}
        self.loaded: dict[str, Any] = {}

    def __getitem__(self, modality: str):
        if modality not in self.loaded:
            from cgcap.encoders import load_encoder

            self.loaded[modality] = load_encoder(self.specs[modality], device=self.device, **self.text_backend)
        return self.loaded[modality]

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)


ClassifierLoader = Callable[[str], CandidateScorer]


class Captioner:
    """``classifier`` (a scorer) stands in for every modality's classifier; otherwise each modality's
    spec is loaded on first use with ``classifier_loader`` (``TextClassifier.load`` by default)."""

    def __init__(self, settings: Settings, lm: LoadedModel, classifier: CandidateScorer | None = None,
                 encoders: Mapping[str, Any] | None = None, classifier_loader: ClassifierLoader | None = None,
                 decode: Callable[[list[CaptionJob]], list[CaptionJob]] | None = None):
        self.settings = settings
        # How jobs are decoded: by default in a loop of their own; the service passes its replica's shared loop.
        self.decode = decode
        self.lm = lm
        self.device = resolve_device(settings.models.device)
        self._classifier = classifier
        self._classifier_loader = classifier_loader
        self.classifiers: dict[str, CandidateScorer] = {}  # spec -> loaded scorer
        self.encoders = encoders if encoders is not None else LazyEncoders(
            {"audio": settings.models.audio_encoder, "image": settings.models.image_encoder}, self.device,
            settings.models.text_backend, settings.models.text_int8,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "Captioner":
        from cgcap import tracking

        # MLflow model URIs resolve against the configured store (MLFLOW_TRACKING_URI still wins).
        tracking.use_store_for(settings)
        device = resolve_device(settings.models.device)
        return cls(settings, load(settings.models.language_model, task="causal-lm", device=device))

    def with_settings(self, settings: Settings) -> "Captioner":
        """A captioner for ``settings`` over this one's loaded models (the language model, the encoders and the
        classifiers loaded so far or later): for other decoding settings, never other models."""
        if settings.models != self.settings.models:
            raise ValueError("with_settings shares this captioner's models: the model settings must not change")
        return Captioner(settings, self.lm, self._classifier, self.encoders, classifier_loader=self.classifier_for,
                         decode=self.decode)

    def classifier_for(self, spec: str) -> CandidateScorer:
        """The classifier named ``spec``, loaded on first use: plain ZeroCap (λ1 = 0) never loads one."""
        if self._classifier is not None:
            return self._classifier
        if spec not in self.classifiers:
            if self._classifier_loader is not None:
                self.classifiers[spec] = self._classifier_loader(spec)
            else:
                from cgcap.classifier import TextClassifier

                models = self.settings.models
                self.classifiers[spec] = TextClassifier.load(spec, device=self.device, backend=models.text_backend,
                                                             int8=models.text_int8)
        return self.classifiers[spec]

    @property
    def classifier(self) -> CandidateScorer:
        """The audio (and text-only) classifier."""
        return self.classifier_for(self.settings.models.classifier)

    def encoder_spec(self, modality: str) -> str | None:
        if isinstance(self.encoders, LazyEncoders):
            return self.encoders.specs[modality]
        return getattr(self.encoders[modality], "spec", None)

    def settings_for(self, options: dict[str, Any] | None) -> Settings:
        """These settings with per-call ``decoding`` keys changed; bad keys or values raise SettingsError."""
        return with_decoding(self.settings, **options) if options else self.settings

    def plan(self, settings: Settings, media: Any | None) -> GuidancePlan:
        """Which encoders and which classifier guide this caption (``cgcap.decoding.plan``)."""
        from cgcap.encoders import guiding_modalities

        guiding = guiding_modalities(media, settings.media.video_mode) if media is not None else []
        return plan_guidance(settings.decoding, guiding, settings.models)

    def input_scorer(self, media: Any, settings: Settings | None = None) -> CandidateScorer:
        """``a_j = cos(E_x(x), E_t(s_j))`` for this input: embeds it once with each guiding encoder."""
        from cgcap.encoders import input_scorer

        return input_scorer(media, self.encoders, video_mode=(settings or self.settings).media.video_mode)

    def caption(self, source: bytes | str | Path, filename: str | None = None, options: dict[str, Any] | None = None,
                on_token: TokenCallback | None = None, should_stop: StopCheck | None = None) -> CaptionResult:
        """Caption an audio clip, an image or a video (a path or the file's bytes)."""
        from cgcap.data.media import decode_media

        settings = self.settings_for(options)
        started = time.perf_counter()
        media = decode_media(source, settings.limits, filename, video_frames=settings.media.video_frames)
        decoded = time.perf_counter()
        name = filename or (Path(source).name if isinstance(source, (str, Path)) else None)
        result = self.caption_media(media, name, settings, on_token=on_token, should_stop=should_stop)
        result.timings = {"decode_media": decoded - started, **result.timings, "total": time.perf_counter() - started}
        return result

    def caption_media(self, media: Any, name: str | None = None, settings: Settings | None = None,
                      modality_scorer: CandidateScorer | None = None, on_token: TokenCallback | None = None,
                      should_stop: StopCheck | None = None) -> CaptionResult:
        """Caption decoded media; ``modality_scorer`` may be one ``input_scorer`` already built for it."""
        request = self.request(media, name, settings, modality_scorer, on_token, should_stop)
        return request.finish(self._run([request.job])[0])

    def caption_media_batch(self, media: list[Any], names: list[str | None] | None = None,
                            settings: Settings | None = None,
                            modality_scorers: list[CandidateScorer | None] | None = None) -> list[CaptionResult]:
        """Caption many decoded inputs in one decoding loop (their language-model passes shared); the captions
        are those each input gets alone. Any input's failure raises: callers that must isolate inputs retry
        them one by one (``CaptioningActor``)."""
        names = names or [None] * len(media)
        scorers = modality_scorers or [None] * len(media)
        requests = [self.request(m, n, settings, scorer) for m, n, scorer in zip(media, names, scorers)]
        jobs = self._run([request.job for request in requests])
        return [request.finish(job) for request, job in zip(requests, jobs)]

    def request(self, media: Any, name: str | None = None, settings: Settings | None = None,
                modality_scorer: CandidateScorer | None = None, on_token: TokenCallback | None = None,
                should_stop: StopCheck | None = None) -> "CaptionRequest":
        """One input made ready to decode: its plan, its embedding (once) and its decoding job."""
        settings = settings or self.settings
        started = time.perf_counter()
        plan = self.plan(settings, media)
        if plan.encoders and modality_scorer is None:
            modality_scorer = self.input_scorer(media, settings)
        request = self._request(settings, plan, modality_scorer if plan.encoders else None, on_token, should_stop)
        request.started, request.timings["embed_input"] = started, time.perf_counter() - started
        request.media, request.name = media, name
        return request

    def caption_text_only(self, prompt: str | None = None, options: dict[str, Any] | None = None,
                          on_token: TokenCallback | None = None, should_stop: StopCheck | None = None) -> CaptionResult:
        """Classifier-guided generation: no input, so no modality term; the classifier and fluency terms remain."""
        options = dict(options or {})
        if prompt is not None:
            options["prompt"] = prompt
        settings = self.settings_for(options)
        request = self._request(settings, self.plan(settings, None), None, on_token, should_stop)
        return request.finish(self._run([request.job])[0])

    def _run(self, jobs: list[CaptionJob]) -> list[CaptionJob]:
        """Decode the jobs in one loop (``decode`` may hand them to a shared, running loop instead)."""
        return self.decode(jobs) if self.decode is not None else caption_together(jobs)

    def _request(self, settings: Settings, plan: GuidancePlan, modality_scorer: CandidateScorer | None,
                 on_token: TokenCallback | None, should_stop: StopCheck | None) -> "CaptionRequest":
        settings = settings.model_copy(update={"decoding": plan.decoding})
        decoder = GuidedDecoder(self.lm, plan.decoding)  # validates the settings against this LM first
        guide = plan.guide
        classifier_scorer = self.classifier_for(guide.classifier) if guide is not None else None
        if guide is not None:
            # A scorer may know its exact id (e.g. the version an MLflow alias pointed at).
            guide = guide.model_copy(update={"classifier": getattr(classifier_scorer, "spec", None) or guide.classifier})
        job = decoder.job(modality_scorer, classifier_scorer, on_token=on_token, should_stop=should_stop)
        specs = {m: self.encoder_spec(m) for m in plan.encoders}
        return CaptionRequest(job, settings, guide, specs)


class CaptionRequest:
    """An input between its plan and its caption: the decoding job and what the result will say about it."""

    def __init__(self, job: CaptionJob, settings: Settings, guide, encoder_specs: dict[str, str | None]):
        self.job, self.settings, self.guide, self.encoder_specs = job, settings, guide, encoder_specs
        self.media: Any | None = None
        self.name: str | None = None
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def finish(self, job: CaptionJob) -> CaptionResult:
        """The job's result with the input, models and timings filled in; its error if it failed."""
        from cgcap.metrics.similarity import guided_score_name

        if job.error is not None:
            raise job.error
        result = job.result
        if self.media is not None:
            result.input, result.modality, result.warnings = self.name, self.media.modality, list(self.media.warnings)
        result.timings = {**self.timings, **result.timings, "total": time.perf_counter() - self.started}
        if self.guide is not None:
            result.model_ids["classifier"] = self.guide.classifier
        result.guide = self.guide
        result.settings = self.settings.model_dump()
        result.model_ids.update({f"{m}_encoder": spec for m, spec in self.encoder_specs.items()})
        if self.encoder_specs:
            result.modality_score_name = guided_score_name(list(self.encoder_specs), self.encoder_specs)
        return result
