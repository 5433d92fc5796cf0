"""The HTTP API: ``POST /v1/captions``, ``GET /v1/health``, ``GET /v1/models``, ``GET /v1/options``,
docs at ``/docs``, and a page to try it at ``/`` (``cgcap/serving/static``).

``create_app(service)`` builds the FastAPI app around whatever implements
``CaptionService``; the Serve ingress deployment implements it with handles to the
Encoder, Classifier and GuidedDecoder deployments.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cgcap.config import Settings
from cgcap.serving.errors import ErrorDetail, ErrorResponse, RequestRejected, from_media_error, invalid, unauthorized
from cgcap.serving.options import CaptionOptions, parse_options, service_limits, video_mode
from cgcap.serving.schemas import CaptionRequest, CaptionResponse, HealthResponse, ModelsResponse
from cgcap.serving.uploads import read_upload

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


class CaptionService(Protocol):
    settings: Settings

    async def check_models(self, options: CaptionOptions, media: Any) -> None:
        """Load what the request needs (its modality's classifier) so a missing model is a 4xx up front."""

    async def caption(self, media: Any, options: CaptionOptions, filename: str | None,
                      request_id: str) -> CaptionResponse: ...

    def caption_events(self, media: Any, options: CaptionOptions, filename: str | None,
                       request_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...

    async def health(self) -> HealthResponse: ...

    async def models(self) -> ModelsResponse: ...


_ERROR_RESPONSES = {status: {"model": ErrorResponse, "description": text} for status, text in {
    401: "missing or wrong bearer API key",
    413: "upload larger than the limit",
    415: "file or request type not accepted",
    422: "bad option, corrupt/empty/silent/too long media, or invalid body",
    503: "a model replica was unavailable; retry",
}.items()}

_CAPTION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "options": {"type": "string", "description": "JSON object of options"}}}},
            "application/json": {"schema": CaptionRequest.model_json_schema()},
        },
    }
}


def _error_json(detail: ErrorDetail, request_id: str | None = None, retry_after: int | None = None) -> JSONResponse:
    headers = {"X-Request-ID": request_id} if request_id else None
    if detail.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    if retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(retry_after)}
    return JSONResponse(ErrorResponse(error=detail).model_dump(), status_code=detail.status, headers=headers)


def _api_key_check(settings: Settings):
    """Bearer key from the environment variable the settings name; no key set = open service."""
    expected = os.environ.get(settings.serve.api_key_env) or None

    async def check(request: Request) -> None:
        if expected is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise unauthorized("this service needs 'Authorization: Bearer <API key>'")
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise unauthorized("the API key is not valid")

    return check


async def _decode(upload_content: bytes, filename: str | None, settings: Settings):
    from cgcap.data.media import MediaError, decode_media

    try:
        # Decoding audio/video is CPU work (ffmpeg/librosa): keep the event loop free.
        return await asyncio.to_thread(decode_media, upload_content, settings.limits, filename,
                                       video_frames=settings.media.video_frames)
    except MediaError as error:
        raise from_media_error(error) from None


def _check_modality(media: Any, options: CaptionOptions) -> None:
    from cgcap.data.media_types import MediaError
    from cgcap.encoders import guiding_modalities

    if options.modality and media.modality != "video" and media.modality != options.modality:
        raise invalid(f"options.modality is {options.modality!r} but the file is {media.modality}",
                      field="options.modality", code="modality_mismatch")
    try:
        guiding_modalities(media, video_mode(options))  # e.g. a silent video asked to be guided by its sound
    except MediaError as error:
        raise from_media_error(error) from None


class OptionRange(BaseModel):
    """What one decoding key accepts here: the profile's default and this service's range."""

    type: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    max_length: int | None = None
    choices: list[Any] | None = None
    description: str | None = None


class OptionsResponse(BaseModel):
    api_key_required: bool
    options: dict[str, OptionRange]  # every decoding key
    limits: dict[str, float]  # upload bytes, audio and video seconds, image pixels


def option_ranges(settings: Settings) -> dict[str, OptionRange]:
    """Each decoding key's range from its own field, tightened by this service's per-request ceiling,
    so a client can show the same bounds ``parse_options`` enforces."""
    from cgcap.config import DecodingSettings

    ceilings = service_limits(settings.serve)
    ranges = {}
    for key, schema in DecodingSettings.model_json_schema()["properties"].items():
        # A nullable key (image_lambda_cls: null = lambda_cls) is described by its non-null form.
        schema = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema) | {
            k: v for k, v in schema.items() if k != "anyOf"}
        limit = ceilings.get(key)
        kind = schema.get("type", "string")
        maximum = schema.get("maximum")
        if limit is not None and kind != "string":
            maximum = limit if maximum is None else min(maximum, limit)
        max_length = limit if limit is not None and kind == "string" else schema.get("maxLength")
        ranges[key] = OptionRange(type=kind, default=getattr(settings.decoding, key), minimum=schema.get("minimum"),
                                  maximum=maximum, exclusive_minimum=schema.get("exclusiveMinimum"),
                                  max_length=max_length, choices=schema.get("enum"),
                                  description=schema.get("description"))
    return ranges


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def create_app(service: CaptionService) -> FastAPI:
    settings = service.settings
    app = FastAPI(
        title="cgcap",
        version="0.1.0",
        description="Classifier-guided captioning for audio and images (arXiv 2501.03183) on Ray Serve.",
    )
    require_key = Depends(_api_key_check(settings))
    key_required = bool(os.environ.get(settings.serve.api_key_env))  # read once, as _api_key_check does

    @app.exception_handler(RequestRejected)
    async def rejected(request: Request, error: RequestRejected) -> JSONResponse:
        return _error_json(error.detail(), getattr(request.state, "request_id", None),
                           getattr(error, "retry_after", None))

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _error_json(ErrorDetail(status=422, code="invalid_request", message=f"{where}: {first['msg']}",
                                       field=where))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return _error_json(ErrorDetail(status=error.status_code, code=code, message=str(error.detail)))

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        logger.exception("request %s failed", request_id)
        return _error_json(ErrorDetail(status=500, code="internal_error",
                                       message=f"internal error; quote request id {request_id} when reporting it"),
                           request_id)

    @app.post("/v1/captions", response_model=CaptionResponse, responses=_ERROR_RESPONSES,
              openapi_extra=_CAPTION_BODY, dependencies=[require_key],
              summary="Caption an audio clip, image or video",
              description="Multipart form (`file`, optional `options` JSON) or JSON (`content_base64`, `filename`, "
                          "`options`). With `?stream=true` (or `Accept: text/event-stream`) the reply is "
                          "server-sent events: `token` events, then one `result` event.")
    async def captions(request: Request, stream: bool = False):
        request_id = uuid.uuid4().hex
        request.state.request_id = request_id
        upload = await read_upload(request, settings.limits)
        options = parse_options(upload.options, settings)
        media = await _decode(upload.content, upload.filename, settings)
        _check_modality(media, options)
        await service.check_models(options, media)  # before streaming starts, so the status code can still say 422
        headers = {"X-Request-ID": request_id}
        if stream or "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_stream(media, options, upload.filename, request_id),
                                     media_type="text/event-stream", headers=headers)
        result = await service.caption(media, options, upload.filename, request_id)
        return JSONResponse(result.model_dump(mode="json"), headers=headers)

    async def _stream(media: Any, options: CaptionOptions, filename: str | None, request_id: str):
        try:
            async for event, data in service.caption_events(media, options, filename, request_id):
                yield _sse(event, data)
        except RequestRejected as error:
            yield _sse("error", error.detail().model_dump())
        except Exception:  # headers are sent: report in-band rather than cutting the stream
            logger.exception("stream %s failed", request_id)
            yield _sse("error", {"status": 500, "code": "internal_error", "message": f"request {request_id} failed"})

    @app.get("/v1/health", response_model=HealthResponse, summary="Liveness and per-deployment batch statistics")
    async def health() -> HealthResponse:
        return await service.health()

    @app.get("/v1/options", response_model=OptionsResponse,
             summary="What a request may ask for: each option's default and range, the upload limits, "
                     "and whether an API key is needed")
    async def options() -> OptionsResponse:
        # Open like /v1/health: the page needs it to know whether to ask for a key at all.
        limits = settings.limits
        return OptionsResponse(
            api_key_required=key_required,
            options=option_ranges(settings),
            limits={"max_upload_bytes": limits.max_upload_bytes, "max_audio_seconds": limits.max_audio_seconds,
                    "max_image_pixels": limits.max_image_pixels, "max_video_seconds": limits.max_video_seconds})

    # The page holds no secret (the key stays in the visitor's browser), so it needs no key itself.
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/v1/models", response_model=ModelsResponse, dependencies=[require_key],
             summary="The models this service uses and which classifiers a request may pick")
    async def models() -> ModelsResponse:
        return await service.models()

    return app
