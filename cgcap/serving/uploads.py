"""Reading the uploaded file out of a request, within ``limits.max_upload_bytes``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from cgcap.config import LimitSettings
from cgcap.serving.errors import RequestRejected, invalid, too_large, unsupported
from cgcap.serving.schemas import CaptionRequest

# Multipart framing and the options field ride on top of the file itself.
_ENVELOPE_BYTES = 64 * 1024


@dataclass
class Upload:
    content: bytes
    filename: str | None
    options: str | dict[str, Any] | None


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        # Without a declared length (chunked), the body could grow without bound before any check.
        raise RequestRejected(411, "length_required", "send the upload with a Content-Length header", None)
    if int(declared) > limit:
        raise too_large(f"request body is {int(declared)} bytes; uploads are limited to "
                        f"{limit - _ENVELOPE_BYTES} bytes", None)


def _check_size(size: int, limits: LimitSettings) -> None:
    if size > limits.max_upload_bytes:
        raise too_large(f"file is {size} bytes; uploads are limited to {limits.max_upload_bytes} bytes")
    if size == 0:
        raise invalid("file is empty", field="file", code="invalid_media")


async def _from_multipart(request: Request, limits: LimitSettings) -> Upload:
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=1024 * 1024)
    except Exception as error:  # python-multipart raises several types for a broken body
        raise invalid(f"could not read the multipart form: {error}", field=None, code="invalid_form") from None
    unknown = sorted(set(form.keys()) - {"file", "options"})
    if unknown:
        raise invalid(f"unknown form field {unknown[0]!r}; the form has 'file' and 'options'", field=unknown[0])
    upload = form.get("file")
    if upload is None:
        raise invalid("the form has no 'file' field", field="file")
    if not isinstance(upload, UploadFile):
        raise invalid("the 'file' field must be a file upload, not text", field="file")
    content = await upload.read(limits.max_upload_bytes + 1)
    _check_size(len(content), limits)
    options = form.get("options")
    if options is not None and not isinstance(options, str):
        raise invalid("the 'options' field must be JSON text, not a file", field="options")
    return Upload(content, upload.filename, options)


async def _from_json(request: Request, limits: LimitSettings) -> Upload:
    raw = await request.body()
    try:
        body = CaptionRequest.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "json_invalid":
            raise invalid(f"body is not valid JSON: {first['msg']}", field="body") from None
        raise invalid(f"{where}: {first['msg']}", field=where) from None
    # base64 is 4 characters per 3 bytes: refuse before decoding a huge string.
    if len(body.content_base64) * 3 // 4 > limits.max_upload_bytes + 3:
        raise too_large(f"file is about {len(body.content_base64) * 3 // 4} bytes; uploads are limited to "
                        f"{limits.max_upload_bytes} bytes", "content_base64")
    try:
        content = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise invalid(f"content_base64 is not valid base64: {error}", field="content_base64") from None
    _check_size(len(content), limits)
    return Upload(content, body.filename, body.options)


async def read_upload(request: Request, limits: LimitSettings) -> Upload:
    """The file and options from a multipart form or a JSON body; 413/415/422 otherwise."""
    _check_declared_length(request, 2 * limits.max_upload_bytes + _ENVELOPE_BYTES)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        _check_declared_length(request, limits.max_upload_bytes + _ENVELOPE_BYTES)
        return await _from_multipart(request, limits)
    if content_type == "application/json":
        return await _from_json(request, limits)
    raise unsupported(f"request content type {content_type or '(none)'!r} is not accepted; send multipart/form-data "
                      "with a 'file' field or application/json with 'content_base64'", None)

