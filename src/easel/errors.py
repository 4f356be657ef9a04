"""Server-side domain errors. No web framework imports here.

Every error carries the HTTP status, Stability's error `name` and a human
message; `api.errors` renders it as a v1 `{id, name, message}` or a v2beta
`{id, name, errors}` body.

    EaselError
    ├── InvalidRequest            400  bad_request (or a named sub-error)
    │   └── PayloadTooLarge       413  payload_too_large
    ├── Unauthorized              401  unauthorized
    ├── PaymentRequired           402  insufficient_balance
    ├── PermissionDenied          403  permission_denied
    ├── NotFound                  404  not_found
    │   └── GenerationNotFound    404  generation_not_found
    ├── RequestTimeout            408  request_timeout (the body arrived too slowly)
    ├── Conflict                  409  conflict
    ├── Unprocessable             422  (v2beta: content the service will not process)
    ├── RateLimited               429  rate_limit_exceeded (carries retry_after)
    ├── Overloaded                503  server_overloaded (carries retry_after)
    ├── EngineError               500  server_error
    │   └── OutOfMemory           503  out_of_memory
    ├── Cancelled                 409  cancelled (a job stopped on request)
    └── ClientClosedRequest       499  client_closed_request (nobody reads it)
"""

from __future__ import annotations


class EaselError(Exception):
    """Base of every error easel turns into an HTTP response."""

    status: int = 500
    name: str = "server_error"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        param: str | None = None,
        errors: list[str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if name is not None:
            self.name = name
        self.param = param
        # One entry per problem, for v2beta's `errors` list; v1 shows `message`.
        self.errors = errors or [message]


class InvalidRequest(EaselError):
    status = 400
    name = "bad_request"


class PayloadTooLarge(InvalidRequest):
    status = 413
    name = "payload_too_large"


class Unauthorized(EaselError):
    status = 401
    name = "unauthorized"


class PaymentRequired(EaselError):
    status = 402
    name = "insufficient_balance"


class PermissionDenied(EaselError):
    status = 403
    name = "permission_denied"


class NotFound(EaselError):
    status = 404
    name = "not_found"


class GenerationNotFound(NotFound):
    name = "generation_not_found"


class RequestTimeout(EaselError):
    status = 408
    name = "request_timeout"


class Conflict(EaselError):
    status = 409
    name = "conflict"


class Unprocessable(EaselError):
    status = 422
    name = "unprocessable_content"


class RateLimited(EaselError):
    status = 429
    name = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int, name: str | None = None):
        super().__init__(message, name=name)
        self.retry_after = retry_after


class Overloaded(EaselError):
    status = 503
    name = "server_overloaded"

    def __init__(self, message: str, *, retry_after: int = 5, name: str | None = None):
        super().__init__(message, name=name)
        self.retry_after = retry_after


class EngineError(EaselError):
    status = 500
    name = "server_error"


class OutOfMemory(EngineError):
    status = 503
    name = "out_of_memory"


class Cancelled(EaselError):
    status = 409
    name = "cancelled"


class ClientClosedRequest(EaselError):
    """The client went away before the answer; nginx's 499, kept out of the 5xx counts."""

    status = 499
    name = "client_closed_request"
