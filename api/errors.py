"""One error type, rendered one way: `{"success": false, "error": ..., "code": ...}`.

Routes raise `AppError` subclasses, the rules raise `domain.errors.DomainError`s (rendered here by
kind, so no route translates them), and an outside system's failure that reaches a route is a
`domain.upstream.UpstreamError` (a 502 naming the service; no route catches a connector's error to
translate it); the handlers here also translate validation errors, unknown routes and unexpected
exceptions into the same shape, so a client parses exactly one error format.
Messages never carry secrets: unexpected exceptions are logged (redacted) and answered generically.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import DomainError, Kind
from domain.upstream import UpstreamError
from resources.redis import RedisUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # what a 503 asks clients to wait before retrying


class ErrorCode(enum.StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INVALID_JSON = "INVALID_JSON"
    AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
    AUTHORIZATION_ERROR = "AUTHORIZATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    EXTERNAL_API_ERROR = "EXTERNAL_API_ERROR"
    DATABASE_ERROR = "DATABASE_ERROR"
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    STREAM_ERROR = "STREAM_ERROR"


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    success: bool = False
    error: str
    code: ErrorCode
    field: str | None = None
    details: list[FieldError] | None = None


class AppError(Exception):
    status_code = 500
    code = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers
        self.field = field
        self.extra = extra  # documented members of the body beside the envelope (e.g. the id in conflict)


class BadRequest(AppError):
    status_code = 400
    code = ErrorCode.VALIDATION_ERROR


class NotAuthenticated(AppError):
    status_code = 401
    code = ErrorCode.AUTHENTICATION_ERROR

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="callaudit"'})


class Forbidden(AppError):
    status_code = 403
    code = ErrorCode.AUTHORIZATION_ERROR

    def __init__(self, message: str = "Insufficient permissions") -> None:
        super().__init__(message)


class NotFound(AppError):
    status_code = 404
    code = ErrorCode.NOT_FOUND

    def __init__(self, message: str = "Not found") -> None:
        super().__init__(message)


class Conflict(AppError):
    status_code = 409
    code = ErrorCode.CONFLICT


class RateLimited(AppError):
    status_code = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: int, message: str = "Too many requests") -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class ExternalServiceError(AppError):
    status_code = 502
    code = ErrorCode.EXTERNAL_API_ERROR


class ServiceUnavailable(AppError):
    """A dependency is down: the client may retry (`Retry-After`)."""

    status_code = 503
    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, field=field)


def error_response(
    status_code: int,
    code: ErrorCode,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    field: str | None = None,
    details: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=message, code=code, field=field, details=details).model_dump(exclude_none=True)
    body.update(extra or {})
    return JSONResponse(body, status_code=status_code, headers=headers)


def stream_error_frame(message: str) -> str:
    """A failure after a stream has answered 200 (decision 97): the status can no longer change and no
    handler here can answer instead, so the stream says it as its last event, `ErrorBody`'s `error`
    and `code` under the original's `"type": "error"` (reference §8.5)."""
    body = ErrorBody(error=message, code=ErrorCode.STREAM_ERROR).model_dump(include={"error", "code"})
    return json.dumps({"type": "error", **body}, ensure_ascii=False)


_DOMAIN_KINDS: dict[Kind, tuple[int, ErrorCode]] = {
    "not_found": (404, ErrorCode.NOT_FOUND),
    "conflict": (409, ErrorCode.CONFLICT),
    "invalid": (400, ErrorCode.VALIDATION_ERROR),
    "unavailable": (503, ErrorCode.SERVICE_UNAVAILABLE),
}


def domain_error_response(exc: DomainError) -> JSONResponse:
    """A rule's error by its kind; field issues as the validation shape (`field`, `details`), an
    unavailable dependency with `Retry-After`."""
    status, code = _DOMAIN_KINDS[exc.kind]
    if exc.issues:
        details = [FieldError(field=f"body.{issue.field}", message=issue.message) for issue in exc.issues]
        first = details[0]
        message = f"Validation error: {first.field}: {first.message}"
        return error_response(status, code, message, field=first.field, details=details, extra=exc.extra)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if exc.kind == "unavailable" else None
    return error_response(status, code, exc.message, headers=headers, field=exc.field, extra=exc.extra)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, ErrorCode.INVALID_JSON, "Request body is not valid JSON")
    details = [FieldError(field=_field_path(tuple(e["loc"])), message=str(e["msg"])) for e in errors]
    first = details[0] if details else FieldError(field="", message="invalid request")
    return error_response(
        400,
        ErrorCode.VALIDATION_ERROR,
        f"Validation error: {first.field}: {first.message}",
        field=first.field,
        details=details,
    )


_HTTP_CODES = {
    401: ErrorCode.AUTHENTICATION_ERROR,
    403: ErrorCode.AUTHORIZATION_ERROR,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.REQUEST_TIMEOUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


#: A database that cannot be reached or cannot serve now (refused, dropped, deadlock): the client
#: should retry, not report a bug.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
)
#: No pooled connection came free within the pool's timeout: the database is up and this process is
#: behind (more requests at once than its pool), which an operator fixes with replicas or pool size,
#: not by looking at Postgres. Said as such, so an overload is not reported as an outage.
POOL_EXHAUSTED = sqlalchemy.exc.TimeoutError
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    RedisUnavailable,
)


class OutageLog:
    """One log line per outage of a dependency, not one (with a traceback) per failed request.

    Failures less than `quiet_seconds` apart belong to the same incident and are only counted; the
    next incident's line says how many requests the previous one failed.
    """

    def __init__(
        self, dependency: str, quiet_seconds: float = 60.0, state: str = "unavailable", until: str = "it returns"
    ) -> None:
        self.dependency = dependency
        self.state, self.until = state, until
        self.quiet_seconds = quiet_seconds
        self.last_failure: float | None = None
        self.failed_requests = 0

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self.last_failure is None or now - self.last_failure > self.quiet_seconds:
            previous = f" (the previous incident failed {self.failed_requests} request(s))" if self.last_failure else ""
            log.error(
                "%s %s (%s): answering 503 until %s%s",
                self.dependency,
                self.state,
                type(exc).__name__,
                self.until,
                previous,
            )
            self.failed_requests = 0
        self.failed_requests += 1
        self.last_failure = now


def _retry_shortly(
    outage: OutageLog, code: ErrorCode, message: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A 503 with `Retry-After` for a dependency that cannot serve now, logged once per incident."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        outage.failed(exc)
        return error_response(503, code, message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    return handler


def install_error_handlers(app: FastAPI) -> None:
    busy = OutageLog(
        "database connection pool",
        state="exhausted: more requests at once than it holds, none came free in time",
        until="connections come free",
    )
    _database_down = _retry_shortly(
        OutageLog("database"), ErrorCode.DATABASE_ERROR, "The database is unavailable; retry shortly"
    )
    _pool_exhausted = _retry_shortly(busy, ErrorCode.SERVICE_UNAVAILABLE, "The server is busy; retry shortly")
    _redis_down = _retry_shortly(
        OutageLog("Redis"), ErrorCode.SERVICE_UNAVAILABLE, "Service unavailable: Redis cannot be reached; retry shortly"
    )

    for database_error in DATABASE_DOWN:
        app.add_exception_handler(database_error, _database_down)
    app.add_exception_handler(POOL_EXHAUSTED, _pool_exhausted)
    for redis_error in REDIS_DOWN:
        app.add_exception_handler(redis_error, _redis_down)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        level = logging.ERROR if exc.status_code >= 500 else logging.INFO
        log.log(level, "%s %s -> %s %s", request.method, request.url.path, exc.status_code, exc.code)
        return error_response(
            exc.status_code, exc.code, exc.message, headers=exc.headers, field=exc.field, extra=exc.extra
        )

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        response = domain_error_response(exc)
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        log.log(level, "%s %s -> %s %s", request.method, request.url.path, response.status_code, exc.kind)
        return response

    @app.exception_handler(UpstreamError)
    async def _upstream(request: Request, exc: UpstreamError) -> JSONResponse:
        if isinstance(exc, DomainError):  # our side of the call is down (e.g. the CRM's caps in Redis)
            return await _domain_error(request, exc)
        log.warning("%s %s -> 502: %s", request.method, request.url.path, exc)  # sanitised by the connector
        return error_response(
            502, ErrorCode.EXTERNAL_API_ERROR, f"{exc.service} could not be reached or gave no usable answer"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(
            exc.status_code, ErrorCode.VALIDATION_ERROR if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
        )
        message = "Route not found" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, ErrorCode.INTERNAL_ERROR, "Internal server error")


#: OpenAPI `responses=` for routers: every route may answer with the error body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Validation error (the field is named)"),
        (401, "Missing or invalid credentials"),
        (403, "Authenticated but not allowed"),
        (404, "Not found, or outside the caller's scope"),
        (429, "Rate limited; see Retry-After"),
        (503, "A dependency is unavailable"),
    )
}
