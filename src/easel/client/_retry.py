"""When to retry a request and how long to wait first.

Pure policy, no I/O: the clients ask `RetryPolicy.next_delay()` after every
failed attempt and sleep for the answer (or give up on ``None``).

Only transient failures are retried: 429, any 5xx, and transport errors
where the request may not have reached the server or its answer was lost
(connect and read errors, dropped connections, timeouts). 4xx other than 429
never are: the same request would fail the same way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

#: Transport errors worth another attempt (httpx.NetworkError covers
#: connect, read, write and close errors).
RETRYABLE_EXCEPTIONS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def is_retryable_status(status: int) -> bool:
    """True for 429 and every 5xx."""
    return status == 429 or 500 <= status <= 599


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, and a longer wait after a 429.

    Args:
        max_retries: retries after the first attempt (0 disables retrying).
        backoff_base: first backoff ceiling in seconds for 5xx and network
            errors; retry ``n`` (0-based) waits ``uniform(0, min(backoff_max,
            backoff_base * 2**n))``.
        backoff_max: ceiling of any computed backoff, in seconds.
        rate_limit_wait: first wait after a 429 without ``Retry-After``;
            doubles per retry (capped by ``backoff_max``) plus up to
            ``backoff_base`` of jitter.
        max_retry_after: the longest ``Retry-After`` the client will wait out;
            a longer one is raised at once so the caller can decide.
        jitter: ``(low, high) -> float``; ``random.uniform`` unless a test
            wants determinism.
    """

    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 20.0
    rate_limit_wait: float = 5.0
    max_retry_after: float = 60.0
    jitter: Callable[[float, float], float] = field(
        default=random.uniform, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("backoff_base", "backoff_max", "rate_limit_wait", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def next_delay(
        self, retries: int, *, status: int | None = None, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        Args:
            retries: retries already made for this request.
            status: the response status, or ``None`` after a retryable
                transport error.
            retry_after: the response's ``Retry-After`` in seconds, if sent.
        """
        if retries >= self.max_retries:
            return None
        if status is not None and not is_retryable_status(status):
            return None
        if retry_after is not None and status is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        if status == 429:
            wait = min(self.backoff_max, self.rate_limit_wait * 2.0**retries)
            return wait + self.jitter(0.0, self.backoff_base)
        return self.jitter(0.0, min(self.backoff_max, self.backoff_base * 2.0**retries))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
