"""REST bodies of the caption service (the OpenAPI schema at /docs is built from these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cgcap.decoding.result import CaptionResult


class CaptionRequest(BaseModel):
    """The JSON form of ``POST /v1/captions``; the multipart form has ``file`` and ``options`` fields."""

    model_config = ConfigDict(extra="forbid")

    content_base64: str = Field(..., description="the audio, image or video file, base64-encoded")
    filename: str | None = Field(None, description="original file name; its extension helps detect the type")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="decoding settings keys (top_k, lambda_cls, prompt, ...) plus modality and classifier",
    )


class BatchingSeen(BaseModel):
    """How many concurrent calls shared each forward pass this request took part in."""

    calls: int = 0  # remote scorer calls this request made
    max_batch: int = 0  # largest number of calls merged into one pass
    mean_batch: float = 0.0


class CaptionResponse(CaptionResult):
    request_id: str
    batching: dict[str, BatchingSeen] = Field(default_factory=dict)  # "embed_texts", "classifier"


class TokenEvent(BaseModel):
    """One server-sent ``token`` event while streaming."""

    step: int
    text: str  # the first beam's text so far
    beams: list[str]  # every beam's text so far


class DeploymentStats(BaseModel):
    replica: str
    model_ids: dict[str, str | None] = Field(default_factory=dict)
    batch_sizes: dict[str, dict[int, int]] = Field(default_factory=dict)  # method -> {batch size: passes}
    loaded_classifiers: list[str] = Field(default_factory=list)


class HealthResponse(BaseModel):
    status: str  # "ok" or "degraded"
    profile: str
    deployments: dict[str, DeploymentStats | str]  # stats, or why a deployment did not answer


class ModelsResponse(BaseModel):
    language_model: str
    encoders: dict[str, str]  # modality -> spec
    default_classifier: str  # the audio (and text-only) classifier
    classifiers: dict[str, str] = Field(default_factory=dict)  # modality rule (audio, image) -> classifier spec
    loaded_classifiers: list[str]
    classifier_forms: list[str] = Field(
        default_factory=lambda: ["models:/NAME@ALIAS", "models:/NAME/VERSION", "named store models"])
    named_classifiers: list[str]
