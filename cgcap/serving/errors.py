"""Errors a request can get back: a status code, a stable code word and a message naming the problem."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    status: int
    code: str  # stable, machine-readable: upload_too_large, unsupported_media_type, invalid_option, ...
    message: str  # names the problem for a person
    field: str | None = None  # the form field or option at fault, when there is one


class ErrorResponse(BaseModel):
    error: ErrorDetail


class RequestRejected(Exception):
    """Bad input or an unavailable service: never a 500. Plain args so it survives Ray's pickling."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 retry_after: int | None = None):
        super().__init__(status, code, message, field, retry_after)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, sent as Retry-After: when trying again makes sense

    def __str__(self) -> str:
        return self.message

    def detail(self) -> ErrorDetail:
        return ErrorDetail(status=self.status, code=self.code, message=self.message, field=self.field)


def too_large(message: str, field: str | None = "file") -> RequestRejected:
    return RequestRejected(413, "upload_too_large", message, field)


def unsupported(message: str, field: str | None = "file") -> RequestRejected:
    return RequestRejected(415, "unsupported_media_type", message, field)


def invalid(message: str, field: str | None = None, code: str = "invalid_request") -> RequestRejected:
    return RequestRejected(422, code, message, field)


def unauthorized(message: str) -> RequestRejected:
    return RequestRejected(401, "unauthorized", message, None)


def unavailable(message: str, retry_after: int | None = None) -> RequestRejected:
    return RequestRejected(503, "service_unavailable", message, None, retry_after)


def overloaded(message: str, retry_after: int = 1) -> RequestRejected:
    return RequestRejected(503, "overloaded", message, None, retry_after)


def cancelled(message: str) -> RequestRejected:
    """The caption was stopped before it finished (its client left, or Serve cancelled the call): 499, the
    status proxies log for a request its client closed."""
    return RequestRejected(499, "request_cancelled", message, None)


# The codes a MediaError's status maps to, so clients can tell a limit from a broken file.
MEDIA_ERROR_CODES = {413: "upload_too_large", 415: "unsupported_media_type", 422: "invalid_media"}


def from_media_error(error: Exception) -> RequestRejected:
    """``cgcap.data.media.MediaError`` carries its own status code (413/415/422)."""
    status = int(getattr(error, "status_code", 422))
    if status not in MEDIA_ERROR_CODES:
        status = 422
    return RequestRejected(status, MEDIA_ERROR_CODES[status], str(error), "file")
