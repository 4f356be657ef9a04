"""What `Client` and `AsyncClient` share: host and key resolution, default
headers, the throttle, retry decisions and the engine/price caches. Nothing
here does I/O, so the sync and async clients differ only in how they send
and sleep.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

from easel import __version__

from ._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    MissingAPIKeyError,
    MissingHostWarning,
)
from ._jobs import EASEL_POLL_INTERVAL, STABILITY_POLL_INTERVAL
from ._pricing import PRICE_KINDS, EnginePrice
from ._progress import read_timeout_for
from ._ratelimit import RateLimit, TokenBucket
from ._requests import RequestSpec
from ._retry import RetryPolicy, parse_retry_after
from ._types import Engine, read_json

DEFAULT_HOST = "https://api.stability.ai"
#: Connect within 10 s; a synchronous generation may take minutes to answer,
#: so with this default a generation's read timeout grows with the request
#: (see `_progress.read_timeout_for`).
DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
CONNECT_TIMEOUT = 10.0
#: Reading the job events stream: events come at most every few seconds, but
#: a queued job may wait long without one.
EVENTS_TIMEOUT = httpx.Timeout(None, connect=CONNECT_TIMEOUT)
#: Asking a job's status after a timed-out attempt.
STATUS_TIMEOUT = httpx.Timeout(30.0, connect=CONNECT_TIMEOUT)
DEFAULT_CLIENT_ID = "easel-python"
DEFAULT_RETRY = RetryPolicy()
DEFAULT_RATE_LIMIT = RateLimit()
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_ENGINES_TTL = 3600.0

API_KEY_ENV_VARS = ("STABILITY_API_KEY", "EASEL_API_KEY")
HOST_ENV_VAR = "API_HOST"

logger = logging.getLogger("easel.client")

T = TypeVar("T")


def resolve_host(host: str | None) -> str:
    """`host`, else ``$API_HOST``, else Stability's; a bare host gets a scheme
    (``http`` for localhost, ``https`` otherwise)."""
    value = (host or os.environ.get(HOST_ENV_VAR) or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in value:
        local = value.startswith(("localhost", "127.", "[::1]", "0.0.0.0"))
        value = f"{'http' if local else 'https'}://{value}"
    return value


def resolve_api_key(api_key: str | None) -> tuple[str, str]:
    """The key and where it came from, first found wins: `api_key`
    (``"api_key"``), else ``$STABILITY_API_KEY``, else ``$EASEL_API_KEY``."""
    sources = [("api_key", api_key)] + [(name, os.environ.get(name)) for name in API_KEY_ENV_VARS]
    for source, value in sources:
        if value and value.strip():
            return value.strip(), source
    raise MissingAPIKeyError(
        "no API key: pass api_key (--api-key) or set STABILITY_API_KEY or EASEL_API_KEY"
    )


def looks_like_easel_key(key: str) -> bool:
    """True for a key only easel mints: ``sk-`` and 48 URL-safe base64 characters,
    at least one of them ``-`` or ``_`` (Stability's keys are alphanumeric, so an
    all-alphanumeric easel key cannot be told apart and is not flagged)."""
    body = key.removeprefix("sk-")
    return (
        key.startswith("sk-")
        and len(body) == 48
        and not body.isalnum()
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in body)
    )


def warn_if_easel_key_goes_to_stability(host: str | None, key: str, source: str) -> None:
    """Warn when an easel key is about to be sent to Stability's hosted API
    because neither `host` nor ``$API_HOST`` is set."""
    if host or os.environ.get(HOST_ENV_VAR, "").strip():
        return
    if source == "EASEL_API_KEY":
        why = "the key comes from EASEL_API_KEY"
    elif looks_like_easel_key(key):
        why = "the key has easel's format"
    else:
        return
    warnings.warn(
        MissingHostWarning(
            f"{why} but no host is set (host=, --host or API_HOST): requests go to {DEFAULT_HOST}"
        ),
        stacklevel=4,
    )


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class TTLCache(Generic[T]):
    """One value that expires `ttl` seconds after it was stored."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._value: T | None = None
        self._stored_at = 0.0

    def get(self) -> T | None:
        """The value if it is still fresh, else ``None``."""
        if self._value is None or self._clock() - self._stored_at >= self._ttl:
            return None
        return self._value

    def set(self, value: T) -> T:
        """Store `value` (and return it)."""
        self._value, self._stored_at = value, self._clock()
        return value


class BaseClient:
    """Configuration and pure helpers of both clients; not used directly."""

    def __init__(
        self,
        *,
        api_key: str | None,
        host: str | None,
        organization: str | None,
        client_id: str | None,
        client_version: str | None,
        retry: RetryPolicy,
        rate_limit: RateLimit | TokenBucket | None,
        engines_ttl: float,
        clock: Callable[[], float],
        timeout: httpx.Timeout | float | None,
        follow_progress: bool | None,
    ) -> None:
        key, key_source = resolve_api_key(api_key)
        warn_if_easel_key_goes_to_stability(host, key, key_source)
        self.host = resolve_host(host)
        self.organization = organization
        self.retry = retry
        # Only easel has the job routes; Stability's hosted API would answer 404.
        auto_follow = self.host != DEFAULT_HOST
        #: First wait between polls of an asynchronous result (see `GenerationJob.wait`).
        self.poll_interval = EASEL_POLL_INTERVAL if auto_follow else STABILITY_POLL_INTERVAL
        self.follow_progress = auto_follow if follow_progress is None else follow_progress
        # A timeout the caller chose is kept as is; the default one adapts.
        self._derive_read_timeout = timeout is DEFAULT_TIMEOUT
        self._clock = clock
        if isinstance(rate_limit, RateLimit):
            rate_limit = TokenBucket(rate_limit, clock=clock)
        self._bucket = rate_limit
        self._engines_cache: TTLCache[list[Engine]] = TTLCache(engines_ttl, clock)
        self._prices_cache: TTLCache[list[EnginePrice]] = TTLCache(engines_ttl, clock)
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": f"easel-python/{__version__}",
        }
        if client_id:
            headers["Stability-Client-ID"] = client_id
            headers["Stability-Client-Version"] = client_version or __version__
        if organization:
            headers["Organization"] = organization
        self._default_headers = headers

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    def _request_kwargs(self, spec: RequestSpec, idempotency_key: str | None) -> dict[str, Any]:
        """Arguments for ``httpx.Client.build_request``, fixed for all attempts.

        A generation request gets one ``Idempotency-Key`` (the caller's or a
        fresh uuid4) that every retry repeats, so the server charges once.
        """
        headers: dict[str, str] = {"Accept": spec.accept} if spec.accept else {}
        kwargs: dict[str, Any] = {"method": spec.method, "url": spec.path, "headers": headers}
        if spec.generation:
            headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
            if self._derive_read_timeout:
                kwargs["timeout"] = httpx.Timeout(read_timeout_for(spec), connect=CONNECT_TIMEOUT)
        if spec.json is not None:
            kwargs["json"] = spec.json
        if spec.files is not None:
            kwargs["files"] = dict(spec.files)
            kwargs["data"] = dict(spec.data or {})
        elif spec.data is not None:
            kwargs["data"] = dict(spec.data)
        return kwargs

    def _may_attach(self, spec: RequestSpec, exc: httpx.TransportError) -> bool:
        """Whether a failed attempt should ask easel if its job still runs."""
        return spec.generation and self.follow_progress and isinstance(exc, httpx.ReadTimeout)

    def _log_attach(self, spec: RequestSpec) -> None:
        logger.info("%s %s: still running on the server; waiting again", spec.method, spec.path)

    def _throttle_wait(self) -> float:
        """Seconds to wait before the next attempt may be sent."""
        return self._bucket.reserve() if self._bucket is not None else 0.0

    def _delay_after_response(self, response: httpx.Response, retries: int) -> float | None:
        """Wait before retrying after an error status, or ``None`` to raise it."""
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        delay = self.retry.next_delay(retries, status=status, retry_after=retry_after)
        if delay is not None:
            if status == 429 and self._bucket is not None:
                # The server locks the key out: hold every request of this client.
                self._bucket.pause(delay)
            logger.info(
                "%s %s -> %d; retry %d/%d in %.2fs",
                response.request.method,
                response.request.url.path,
                status,
                retries + 1,
                self.retry.max_retries,
                delay,
            )
        return delay

    def _delay_after_error(self, exc: httpx.TransportError, retries: int) -> float | None:
        """Wait before retrying after a transport error, or ``None`` to raise it."""
        delay = self.retry.next_delay(retries)
        if delay is not None:
            logger.info(
                "%s; retry %d/%d in %.2fs",
                type(exc).__name__,
                retries + 1,
                self.retry.max_retries,
                delay,
            )
        return delay

    def _connection_error(self, exc: httpx.TransportError) -> APIConnectionError:
        request = _request_of(exc)
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"timed out talking to {self.host}: {exc}", request=request)
        detail = str(exc) or type(exc).__name__
        return APIConnectionError(f"could not talk to {self.host}: {detail}", request=request)


def parse_engines(response: httpx.Response) -> list[Engine]:
    """Read the bare JSON array of ``GET /v1/engines/list``."""
    body = read_json(response)
    if isinstance(body, dict) and isinstance(body.get("engines"), list):
        body = body["engines"]  # tolerate a wrapped list
    if not isinstance(body, list):
        raise APIResponseError("expected a JSON array of engines", response=response)
    return [Engine.from_json(item) for item in body]


def parse_prices(response: httpx.Response) -> list[EnginePrice]:
    """Read the JSON array of ``GET /v1/engines/pricing`` (an easel extension).

    Rows of engine kinds this client does not estimate (v2beta's per-call edit,
    control, video and 3D services, and kinds a newer server adds) are skipped,
    so a richer price list never breaks an older client.
    """
    body = read_json(response)
    if not isinstance(body, list):
        raise APIResponseError("expected a JSON array of prices", response=response)
    return [
        EnginePrice.from_json(item)
        for item in body
        if not isinstance(item, dict) or item.get("kind") in PRICE_KINDS
    ]


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # httpx raises when the error was built without a request
        return None
