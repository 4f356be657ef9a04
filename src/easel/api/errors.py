"""One renderer for every error: Stability's v1 or v2beta body, by route prefix.

v1 routes answer `{id, name, message}`; v2beta/v2alpha routes answer
`{id, name, errors: [...]}`. The `id` is the request id, which also goes out
in the `X-Request-Id` header and the log line. Unexpected exceptions are
logged with their traceback and answered with a generic 500; a database that
refused or dropped a connection gets a 503 with Retry-After.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from easel.errors import EaselError, Overloaded, RateLimited

log = logging.getLogger("easel.api")

# seconds: the pool has reconnected by then, or the outage is longer than a retry
DATABASE_RETRY_AFTER = 1

_HTTP_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "bad_request",
    429: "rate_limit_exceeded",
}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_response(
    request: Request,
    status: int,
    name: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[str] | None = None,
) -> JSONResponse:
    """Render an error in the body shape of the route's API version.

    v2beta lists one problem per entry (`errors`, default `[message]`); v1 has
    one `message`.
    """
    request_id = request_id_of(request)
    body: dict[str, Any]
    if request.url.path.startswith(("/v2beta", "/v2alpha")):
        body = {"id": request_id, "name": name, "errors": list(errors or [message])}
    else:
        body = {"id": request_id, "name": name, "message": message}
    headers = {**(headers or {}), "X-Request-Id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


# Where FastAPI says a value came from; not part of the field name a client sent.
_LOCATIONS = ("body", "query", "path", "header")


def describe_errors(errors: Sequence[Any]) -> str:
    """One `field: problem; …` message from pydantic errors, naming fields as sent
    (`text_prompts[0][text]`, the multipart spelling)."""
    return "; ".join(field_errors(errors)) or "invalid request"


def field_errors(errors: Sequence[Any]) -> list[str]:
    """One `field: problem` entry per pydantic error, naming fields as sent."""
    parts = []
    for error in errors:
        name = ""
        for part in error.get("loc", ()):
            if not name and part in _LOCATIONS:
                continue
            name += f"[{part}]" if isinstance(part, int) or name else str(part)
        problem = "is required" if error.get("type") == "missing" else str(error.get("msg"))
        parts.append(f"{name or 'body'}: {problem}")
    return parts


async def _easel_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EaselError)
    headers = None
    if isinstance(exc, RateLimited | Overloaded):
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    return error_response(
        request, exc.status, exc.name, exc.message, headers=headers, errors=exc.errors
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        request,
        400,
        "bad_request",
        describe_errors(exc.errors()),
        errors=field_errors(exc.errors()) or None,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, EaselError):
        # FastAPI wraps errors raised while reading the body (our size limit) in a 400.
        return await _easel_error(request, exc.__cause__)
    name = _HTTP_NAMES.get(
        exc.status_code, "server_error" if exc.status_code >= 500 else "bad_request"
    )
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"The requested resource {request.url.path} was not found."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    return error_response(request, exc.status_code, name, message, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unhandled error request_id=%s path=%s",
        request_id_of(request),
        request.url.path,
        exc_info=exc,
    )
    return error_response(
        request, 500, "server_error", "An unexpected server error occurred, please try again."
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused or dropped a connection (a restart, a failover): the pool
    reconnects on the next request, so the client should retry, not give up."""
    assert isinstance(exc, OperationalError)
    log.warning(
        "database unavailable request_id=%s path=%s: %s",
        request_id_of(request),
        request.url.path,
        exc.orig,
    )
    return error_response(
        request,
        503,
        "database_unavailable",
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EaselError, _easel_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
