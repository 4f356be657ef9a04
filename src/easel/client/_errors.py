"""Exceptions raised by the Stability API client, and `parse_error()`, the one
place that turns an HTTP error response into one of them.

    StabilityError                      base of everything the client raises
    ├── MissingAPIKeyError              no key given and none in the environment
    ├── APIConnectionError              no HTTP answer (connect/read/protocol error)
    │   └── APITimeoutError             ... because a timeout expired
    ├── APIResponseError                a 2xx answer whose body could not be read
    └── APIStatusError                  the server answered 4xx/5xx
        ├── BadRequestError             400, 413, 422
        ├── AuthenticationError         401
        ├── InsufficientBalanceError    402
        ├── PermissionDeniedError       403
        │   └── ContentModerationError  403 content_moderation
        ├── NotFoundError               404
        ├── ConflictError               409
        ├── RateLimitError              429 (carries retry_after)
        └── ServerError                 5xx

Every `APIStatusError` carries the server's error `id`, Stability's error
`name` (`invalid_height_or_width`, `unauthorized`, ...), a human `message`, the
HTTP `status` and the `X-Request-Id` header as `request_id`. Both Stability
error bodies are read: v1 `{id, name, message}` and v2beta `{id, name,
errors: [...]}`; any other body (HTML from a proxy, plain text) still gives a
typed error with the text as the message.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._retry import parse_retry_after


class StabilityError(Exception):
    """Base class of every exception the client raises."""


class MissingAPIKeyError(StabilityError):
    """No API key was passed and none is set in the environment."""


class MissingHostWarning(UserWarning):
    """An easel API key is about to be sent to Stability's hosted API because
    no host was given; set ``API_HOST`` (or pass ``host=``)."""


class APIConnectionError(StabilityError):
    """The request got no HTTP response: connection refused or dropped, DNS, TLS."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout expired."""


class APIResponseError(StabilityError):
    """The server answered 2xx with a body the client could not understand."""

    def __init__(self, message: str, *, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.request_id = response.headers.get("x-request-id") if response is not None else None


class APIStatusError(StabilityError):
    """The server answered with a 4xx or 5xx status.

    Attributes:
        status: the HTTP status code.
        id: the error id from the body (Stability's occurrence id), if any.
        name: Stability's error name, e.g. ``invalid_height_or_width``.
        message: the human message (v2beta ``errors`` joined with ``"; "``).
        errors: the v2beta ``errors`` list (``[message]`` for v1 bodies).
        request_id: the ``X-Request-Id`` response header, if sent.
        response: the ``httpx.Response``, for anything else.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        name: str,
        id: str | None = None,
        errors: list[str] | None = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.name = name
        self.id = id
        self.errors = errors if errors is not None else [message]
        self.request_id = request_id
        self.response = response
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status} {self.name}: {self.message}"
        reference = self.request_id or self.id
        return f"{text} (request id {reference})" if reference else text


class BadRequestError(APIStatusError):
    """400, 413 or 422: the request was invalid; fix it, do not retry."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class InsufficientBalanceError(APIStatusError):
    """402: the organization has too few credits for this request."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource (engine, organization)."""


class ContentModerationError(PermissionDeniedError):
    """403 ``content_moderation``: the input was refused; nothing was charged."""


class NotFoundError(APIStatusError):
    """404: unknown engine, generation or path."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (e.g. a reused idempotency key)."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(APIStatusError):
    """5xx: the server failed; the client already retried before raising this."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
}

_BY_NAME: dict[str, type[APIStatusError]] = {
    "content_moderation": ContentModerationError,
}

_DEFAULT_NAMES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    402: "insufficient_balance",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limit_exceeded",
    500: "server_error",
}

_MAX_TEXT = 500


def parse_error(response: httpx.Response) -> APIStatusError:
    """Build the typed exception for an error response (the body must be read)."""
    status = response.status_code
    body = _json_or_none(response)
    name, error_id, message, errors = _fields(body)
    if message is None:
        text = response.text.strip() if body is None else ""
        message = text[:_MAX_TEXT] if text else (response.reason_phrase or f"HTTP {status}")
    if name is None:
        name = _DEFAULT_NAMES.get(status) or _snake(response.reason_phrase) or f"http_{status}"
    cls = _BY_NAME.get(name) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIStatusError
    kwargs: dict[str, Any] = {
        "status": status,
        "name": name,
        "id": error_id,
        "errors": errors,
        "request_id": response.headers.get("x-request-id"),
        "response": response,
    }
    if cls is RateLimitError:
        kwargs["retry_after"] = parse_retry_after(response.headers.get("retry-after"))
    return cls(message, **kwargs)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _fields(body: Any) -> tuple[str | None, str | None, str | None, list[str] | None]:
    """(name, id, message, errors) from a v1, v2beta or FastAPI-style body."""
    if not isinstance(body, dict):
        return None, None, None, None
    name = body.get("name") if isinstance(body.get("name"), str) else None
    raw_id = body.get("id")
    error_id = str(raw_id) if isinstance(raw_id, str | int) else None
    errors: list[str] | None = None
    raw_errors = body.get("errors")
    if isinstance(raw_errors, list) and raw_errors:
        errors = [str(item) for item in raw_errors]
    message = body.get("message") if isinstance(body.get("message"), str) else None
    if message is None and errors:
        message = "; ".join(errors)
    if message is None and "detail" in body:
        detail = body["detail"]
        message = detail if isinstance(detail, str) else str(detail)
    return name, error_id, message, errors


def _snake(text: str) -> str:
    return "_".join(text.lower().split())
