"""Client-side throttling: a token bucket that keeps a client under the
server's request rate, so it does not earn Stability's 60-second lock-out.

The bucket only computes waits (`reserve()` returns seconds); the sync and
async clients do the sleeping, so tests drive it with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` requests in any window of `period` seconds.

    The bucket holds `burst` tokens and refills at
    ``(requests - burst) / period`` per second, so even a full burst followed
    by steady traffic never exceeds `requests` in any window of `period`
    seconds. `burst` defaults to a fifth of `requests`.
    The default, 150 per 10 s, is Stability's documented limit.
    """

    requests: int = 150
    period: float = 10.0
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.requests < 2:
            raise ValueError(f"requests must be >= 2, got {self.requests}")
        if self.period <= 0:
            raise ValueError(f"period must be > 0, got {self.period}")
        if not 1 <= self.capacity < self.requests:
            raise ValueError(f"burst must be between 1 and {self.requests - 1}, got {self.burst}")

    @property
    def capacity(self) -> int:
        """Tokens the bucket holds when full (the largest instant burst)."""
        return self.burst if self.burst is not None else max(1, self.requests // 5)

    @property
    def refill_rate(self) -> float:
        """Tokens added per second."""
        return (self.requests - self.capacity) / self.period


class TokenBucket:
    """A thread-safe token bucket; one per client unless shared on purpose.

    Pass the same instance to several clients that use one API key to make
    them share its limit.
    """

    def __init__(
        self, limit: RateLimit | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit if limit is not None else RateLimit()
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(self.limit.capacity)
        self._updated = clock()
        self._paused_until = self._updated

    def reserve(self) -> float:
        """Take a token; return how many seconds to wait before sending.

        Tokens may go negative: each caller reserves its place in line, so
        concurrent callers wait in turn rather than all at once.
        """
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            elapsed = max(0.0, start - self._updated)
            self._tokens = min(
                float(self.limit.capacity), self._tokens + elapsed * self.limit.refill_rate
            )
            self._updated = max(self._updated, start)
            self._tokens -= 1.0
            shortfall = -self._tokens if self._tokens < 0 else 0.0
            return (start - now) + shortfall / self.limit.refill_rate

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` (after a 429 from the server)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
