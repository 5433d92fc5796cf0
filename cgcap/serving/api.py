"""The HTTP API: ``POST /v1/captions``, ``GET /v1/health``, ``GET /v1/models``, docs at ``/docs``.

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
from typing import Any, AsyncIterator, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cgcap.config import Settings
from cgcap.serving.errors import ErrorDetail, ErrorResponse, RequestRejected, from_media_error, invalid, unauthorized
from cgcap.serving.options import CaptionOptions, parse_options, video_mode
from cgcap.serving.schemas import CaptionRequest, CaptionResponse, HealthResponse, ModelsResponse
from cgcap.serving.uploads import read_upload

logger = logging.getLogger(__name__)


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


def _error_json(detail: ErrorDetail, request_id: str | None = None) -> JSONResponse:
    headers = {"X-Request-ID": request_id} if request_id else None
    if detail.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
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
    from cgcap.data.media import MediaError
    from cgcap.encoders import guiding_modalities

    if options.modality and media.modality != "video" and media.modality != options.modality:
        raise invalid(f"options.modality is {options.modality!r} but the file is {media.modality}",
                      field="options.modality", code="modality_mismatch")
    try:
        guiding_modalities(media, video_mode(options))  # e.g. a silent video asked to be guided by its sound
    except MediaError as error:
        raise from_media_error(error) from None


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

    @app.exception_handler(RequestRejected)
    async def rejected(request: Request, error: RequestRejected) -> JSONResponse:
        return _error_json(error.detail(), getattr(request.state, "request_id", None))

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

    @app.get("/v1/models", response_model=ModelsResponse, dependencies=[require_key],
             summary="The models this service uses and which classifiers a request may pick")
    async def models() -> ModelsResponse:
        return await service.models()

    return app
