"""Typed settings: decoding hyperparameters (docs/ALGORITHM.md), model specs, limits.

Settings come from a profile (a YAML file in ``cgcap/profiles``), then an optional
YAML config file, then ``--set key=value`` overrides, each layer on top of the last.
"""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


PROFILES = Path(__file__).parent / "profiles"


class SettingsError(ValueError):
    """A settings value, file or override was refused; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def service_limit(serve_key: str) -> dict[str, str]:
    """Field metadata naming the ``serve`` setting that caps this decoding key per request.

    Numbers are capped by value, text by length; ``cgcap.serving.options`` reads it, so a
    new decoding key cannot reach the service without a decision about its ceiling.
    """
    return {"service_limit": serve_key}


class DecodingSettings(_Section):
    """The guided decoding loop; defaults are the papers' values (docs/ALGORITHM.md)."""

    prompt: str = Field("Audio of a", min_length=1, json_schema_extra=service_limit("max_prompt_chars"),
        description="text the caption continues (audio, text-only)")
    image_prompt: str = Field("Image of a", min_length=1, json_schema_extra=service_limit("max_prompt_chars"),
        description="the prompt for images and video frames")
    top_k: int = Field(512, ge=1, le=1_000_000, json_schema_extra=service_limit("max_top_k"),
        description="k: candidate tokens scored per step")
    num_iterations: int = Field(5, ge=0, le=100, json_schema_extra=service_limit("max_num_iterations"),
        description="cache updates per token")
    step_size: float = Field(0.3, ge=0.0, le=100.0, description="size of each cache update")
    grad_norm_factor: float = Field(0.9, ge=0.0, le=2.0, description="gradient normalisation power")
    modality_temperature: float = Field(0.01, gt=0.0, le=100.0, description="tau for the modality target")
    classifier_temperature: float = Field(0.01, gt=0.0, le=100.0, description="tau_cls for the classifier target")
    lambda_modality: float = Field(1.0, ge=0.0, le=100.0, description="weight of L_mod")
    lambda_fluency: float = Field(0.2, ge=0.0, le=100.0, description="lambda0: weight of L_CE (KL(p||q))")
    lambda_cls: float = Field(0.6, ge=0.0, le=100.0, description="lambda1: weight of L_cls (audio, text-only)")
    image_lambda_cls: float | None = Field(
        None, ge=0.0, le=100.0, description="lambda1 for images and frame-guided videos; null = lambda_cls")
    classifier_form: Literal["target", "expected", "additive"] = Field(
        "target",
        description="target/expected: the 2025 loss term; additive: the 2023 a_j + w*h(s_j)",
    )
    additive_weight: float = Field(1.0, ge=0.0, le=100.0, description="w of the 2023 additive form")
    wanted_label: Literal[0, 1] = Field(1, description="classifier label to steer towards (audio, text-only)")
    image_wanted_label: Literal[0, 1] | None = Field(
        None, description="label the image classifier steers towards; null = wanted_label")
    fusion: float = Field(0.99, ge=0.0, le=1.0, description="weight of the shifted distribution")
    end_token: str = Field(".", min_length=1, json_schema_extra=service_limit("max_prompt_chars"))
    end_factor: float = Field(1.01, gt=0.0, le=100.0)
    end_ramp: float = Field(
        0.0, ge=0.0, le=10.0,
        description="added to the end token's logit per caption token after the first (0: ZeroCap's rule only); "
                    "a caption then ends on its own before max_tokens",
    )
    content_candidates: bool = Field(
        False, description="the input's own words (a tagger encoder's class names) join the top-k candidates",
    )
    one_name: bool = Field(
        False, description="with content_candidates: once a caption has written one content name, the others' "
                           "first tokens are discouraged, so it names the input once instead of stacking names",
    )
    name_end_bonus: float = Field(
        0.0, ge=0.0, le=100.0,
        description="with one_name: added to the end token's logit right after a content name is completed",
    )
    name_first_bonus: float = Field(
        0.0, ge=0.0, le=100.0,
        description="with one_name: added to the content names' first tokens' logits at the caption's first token",
    )
    first_word_apart: bool = Field(
        False, description="the first caption token starts a new word instead of gluing onto the prompt's last word, "
                           "and no caption token is only whitespace",
    )
    forbidden_factor: float = Field(20.0, ge=1.0, le=1e6)
    repetition_penalty: float = Field(1.0, ge=1.0, le=100.0, description="1 = off; applies to the last 4 tokens")
    beam_size: int = Field(1, ge=1, le=64, json_schema_extra=service_limit("max_beam_size"),
        description="beams for audio and text-only (1 in the audio paper)")
    image_beam_size: int = Field(5, ge=1, le=64, json_schema_extra=service_limit("max_beam_size"),
        description="beams for images and video frames (ZeroCap: 5)")
    max_tokens: int = Field(15, ge=1, le=256, json_schema_extra=service_limit("max_tokens"))
    pick_fluency: float = Field(
        0.0, ge=0.0, le=100.0,
        description="the final pick among finished beams adds this weight times each beam's mean log-probability "
                    "per token under the unsteered LM to its modality score (0: ZeroCap's pick, modality alone)")
    article: bool = Field(
        True, description='the returned caption writes the prompt\'s final "a" as "an" before a vowel sound '
                          '("Audio of an alarm"); candidates are scored as decoded')
    # Approximations, off by default: the exact loop is docs/ALGORITHM.md's.
    speed: Literal["exact", "fast"] = Field("exact", description="fast = score_once and early_stop together")
    score_once: bool = Field(
        False, description="score the unshifted LM's top-k once per token, not the shifted top-k at every iteration"
    )
    early_stop: bool = Field(
        False, description="end a token's iterations once the shifted LM's top candidate stops changing"
    )

    @property
    def scores_each_token_once(self) -> bool:
        """Whether a token's candidates are scored once, not at every iteration (``score_once`` or ``speed: fast``)."""
        return self.score_once or self.speed == "fast"

    @property
    def stops_iterations_early(self) -> bool:
        """Whether a token's iterations may end early (``early_stop`` or ``speed: fast``)."""
        return self.early_stop or self.speed == "fast"

    @property
    def classifier_weight(self) -> float:
        """How much the classifier counts: λ1, or for the 2023 additive form w·λ_mod (w·h sits inside L_mod)."""
        if self.classifier_form == "additive":
            return self.additive_weight * self.lambda_modality
        return self.lambda_cls


class ModelSettings(_Section):
    """Model specs, each resolved by ``cgcap.models.load``."""

    language_model: str = "smollm2-135m"
    audio_encoder: str = "tiny:clap"
    image_encoder: str = "tiny:clip"
    classifier: str = Field("minilm-l6", description="the classifier that steers audio and text-only captions")
    image_classifier: str | None = Field(
        None, description="the classifier that steers images and frame-guided videos; null = models.classifier")
    judge_classifier: str | None = None
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    text_backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="runs the text towers that score candidates: auto = onnx on a CPU, torch fp16 on a GPU"
    )
    text_int8: bool = Field(False, description="int8 weights for the ONNX text towers: faster, scores less exact")


class LimitSettings(_Section):
    """What the service and the CLI accept."""

    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1)
    max_audio_seconds: float = Field(60.0, gt=0.0)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_video_seconds: float = Field(120.0, gt=0.0)
    max_batch_texts: int = Field(4096, ge=1)


class MediaSettings(_Section):
    """How user media is read: video frames sampled and which video tracks guide the caption."""

    video_frames: int = Field(8, ge=1, le=256, description="frames sampled evenly from a video for the image encoder")
    video_mode: Literal["image", "audio", "both"] = Field(
        "both", description="video guidance: frames (image), sound track (audio), or the mean of both scores"
    )


class ServeSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key_env: str = "CGCAP_API_KEY"
    # Per-request option ceilings: tighter than DecodingSettings' own ranges because one
    # request must not hold a replica for minutes (top_k x iterations x tokens x beams).
    max_top_k: int = Field(2048, ge=1)
    max_num_iterations: int = Field(20, ge=0)
    max_tokens: int = Field(64, ge=1)
    max_beam_size: int = Field(8, ge=1)
    max_prompt_chars: int = Field(500, ge=1)
    # @serve.batch in Encoder.embed_texts and Classifier.score; batching=False sends
    # every call through alone (max_batch_size 1), for benchmarks.
    batching: bool = True
    max_batch_size: int = Field(16, ge=1, description="calls merged into one forward pass")
    batch_wait_timeout_s: float = Field(0.005, ge=0.0, le=10.0)
    # The decoder replica's one loop (cgcap.decoding.continuous): concurrent requests share its language-model
    # passes, joining between tokens. Off: each request decodes in a loop of its own, as before.
    continuous_batching: bool = True
    max_batch_rows: int = Field(16, ge=1, le=4096, description="rows (input x beam) one decoder replica decodes together")
    max_waiting_captions: int = Field(
        16, ge=0, le=4096, description="captions waiting to join a decoder replica's loop; one more gets a 503")
    decoder_threads: int | None = Field(
        2, ge=1, le=256,
        description="torch threads of a decoder replica's decoding loop, which runs every caption's LM passes (a "
                    "0.5-CPU Ray actor gets one); null leaves Ray's setting",
    )


class TrackingSettings(_Section):
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "cgcap"


class EvaluationSettings(_Section):
    """Dataset evaluation (jobs/evaluate.py): the actor pool and the metrics' own models."""

    batch_size: int = Field(16, ge=1, le=4096, description="items per map_batches call and per predictions part file")
    decode_batch: int | None = Field(
        None, ge=1, le=1024,
        description="inputs an actor decodes together in one loop; null = 16 on a CPU, 32 on a GPU")
    actors: int = Field(1, ge=1, le=1024, description="Captioner actors in the Ray Data pool")
    cpus_per_actor: float = Field(1.0, ge=0.0, le=256.0)
    gpus_per_actor: float = Field(0.0, ge=0.0, le=16.0, description="fractions share one GPU between actors")
    bertscore_encoder: str | None = Field(
        "minilm-l6", description="model spec or folder for BERTScore; null turns BERTScore off"
    )
    bertscore_layers: int | None = Field(None, ge=1, description="layer whose embeddings BERTScore compares; default the last")
    audibility_threshold: float = Field(0.5, ge=0.0, le=1.0, description="judge probability counted as audible")

    def decode_batch_for(self, device: str) -> int:
        """``decode_batch``, or the default for the device the actor decodes on. benchmarks/throughput.py on the
        dev set, one torch thread as in a one-CPU actor: batch 8 1.64x the captions per minute of batch 1, batch
        16 1.90x (two threads: 2.24x at 8, no gain past it). A GPU's passes stay launch-bound far longer
        (docs/PERFORMANCE.md); 32 there is not yet measured."""
        if self.decode_batch is not None:
            return self.decode_batch
        return 32 if str(device).startswith("cuda") else 16


class Settings(_Section):
    profile: str = "offline"
    decoding: DecodingSettings = DecodingSettings()
    models: ModelSettings = ModelSettings()
    limits: LimitSettings = LimitSettings()
    media: MediaSettings = MediaSettings()
    serve: ServeSettings = ServeSettings()
    tracking: TrackingSettings = TrackingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()

    def flat(self) -> dict[str, Any]:
        """Every setting as ``section.key -> value``, for logging as MLflow params."""
        out: dict[str, Any] = {}
        for section, values in self.model_dump().items():
            if isinstance(values, dict):
                for key, value in values.items():
                    out[f"{section}.{key}"] = value
            else:
                out[section] = values
        return out


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.yaml"))


def _profile_data(name: str) -> dict[str, Any]:
    path = PROFILES / f"{name}.yaml"
    if not path.is_file():
        raise SettingsError(f"unknown profile {name!r}; known profiles: {', '.join(list_profiles())}")
    return yaml.safe_load(path.read_text()) or {}


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_NULL_WORDS = {"", "null", "Null", "NULL", "~"}  # YAML's spellings of null


def _field_at(keys: list[str]):
    """The pydantic field ``keys`` names inside ``Settings``, or None for an unknown key (refused later)."""
    model: Any = Settings
    field = None
    for key in keys:
        fields = getattr(model, "model_fields", None)
        if not fields or key not in fields:
            return None
        field = fields[key]
        model = field.annotation
    return field


def _is_text(annotation: Any) -> tuple[bool, bool]:
    """(holds text, accepts None), read from a field's type: ``str`` or ``str | None``."""
    args = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return str in args, type(None) in args


def parse_override(text: str) -> dict[str, Any]:
    """``decoding.top_k=64`` -> ``{"decoding": {"top_k": 64}}``.

    The value is parsed as YAML, except for text settings, which stay text even when they
    look like a number; a nullable setting takes ``null`` or ``~`` (or nothing) as None.
    """
    if "=" not in text:
        raise SettingsError(f"override {text!r} must look like section.key=value")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise SettingsError(f"override {text!r} names no key")
    field = _field_at(keys)
    text_setting, nullable = _is_text(field.annotation) if field is not None else (False, False)
    if nullable and raw.strip() in _NULL_WORDS:
        value: Any = None
    elif text_setting:
        value = raw
    else:
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as error:
            raise SettingsError(f"override {dotted}: cannot parse value {raw!r}: {error}") from None
    out: dict[str, Any] = value
    for key in reversed(keys):
        out = {key: out}
    return out


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        bound = item.get("ctx") or {}
        allowed = ", ".join(f"{k} {v}" for k, v in bound.items() if k in {"ge", "gt", "le", "lt", "min_length", "expected"})
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown setting"
        lines.append(f"{key}: {msg}" + (f" (allowed: {allowed})" if allowed else "") + f"; got {item.get('input')!r}")
    return "invalid settings: " + "; ".join(lines)


def build_settings(data: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def load_settings(
    profile: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Settings:
    """Profile, then config file, then ``key=value`` overrides; refuses bad values by key."""
    data: dict[str, Any] = {}
    file_data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.exists():
            raise SettingsError(f"config file {path} does not exist")
        if not path.is_file():
            raise SettingsError(f"config file {path} is not a file")
        try:
            file_data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise SettingsError(f"config file {path} is not valid YAML (or not UTF-8): {error}") from None
        if not isinstance(file_data, dict):
            raise SettingsError(f"config file {path} must hold a mapping of sections")
    name = profile or file_data.get("profile") or "offline"
    data = _merge(_profile_data(name), {"profile": name})
    data = _merge(data, file_data)
    if profile:
        data["profile"] = profile
    for override in overrides:
        data = _merge(data, parse_override(override))
    return build_settings(data)


def with_decoding(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with decoding keys changed, validated like any override."""
    data = settings.model_dump()
    data["decoding"].update(changes)
    return build_settings(data)
