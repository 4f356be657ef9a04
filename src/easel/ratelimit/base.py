"""The per-API-key rate limit: its policy, its decision and the limiter protocol.

Stability's contract is 150 requests per 10-second window per key; the request
that goes over is refused with 429 and the key is then locked out for 60 s,
every request during the lock-out being refused with the remaining lock-out as
its retry-after. The API layer asks a `RateLimiter` for a `RateLimitDecision`
per request and raises `easel.errors.RateLimited` when it is not allowed; the
backends (`memory.py`, `redis.py`) share the algorithm described here.

Algorithm: a **sliding log**. Each key keeps the timestamps of the requests
it was allowed within the last `window_seconds`; a request is allowed when
fewer than `requests` of them remain, and counts only if allowed (refused
requests never fill the log, so a client hammering through its lock-out is
not kept locked out forever). Unlike a fixed window (up to 2×limit across a
boundary) or a two-window weighted counter (an estimate that assumes the
previous window's requests were evenly spread, so it can admit more or fewer
than the limit), the log is exact: no `window_seconds` interval ever holds
more than `requests` allowed requests. It costs at most `requests`
timestamps per active key (150 floats), which is cheap at this scale;
exactness is what a drop-in replacement of a documented limit owes its
users.

Lock-out: the refused request that found the window full locks the key
until `now + max(lockout_seconds, time until the oldest logged request
leaves the window)`. With the defaults (and whenever `lockout_seconds >=
window_seconds`) that is exactly `lockout_seconds`, and the window is empty
when the lock-out ends; with a shorter lock-out it lasts until the window has
room, so the first request after it is always admitted and `retry_after` is
never a lie. Requests during the lock-out do not extend it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateLimitPolicy:
    """How many requests a key may make, and what happens when it makes more.

    Args:
        requests: requests allowed per key in any `window_seconds` interval.
        window_seconds: length of the sliding window.
        lockout_seconds: how long a key that goes over the limit is refused.
            0 turns the lock-out off (a plain sliding window).
    """

    requests: int = 150
    window_seconds: float = 10
    lockout_seconds: float = 60

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ValueError(f"requests must be at least 1, got {self.requests}")
        if self.window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, got {self.window_seconds}")
        if self.lockout_seconds < 0:
            raise ValueError(f"lockout_seconds must not be negative, got {self.lockout_seconds}")


@dataclass(frozen=True)
class RateLimitDecision:
    """The answer to one request.

    Attributes:
        allowed: whether the request may proceed.
        limit: the policy's `requests`.
        remaining: requests the key may still make in the current window
            (0 when refused).
        retry_after: seconds until a request from this key will be allowed;
            0 when allowed.
        reset_after: seconds until `remaining` next goes up, i.e. until the
            oldest request in the window leaves it; when refused, equal to
            `retry_after`.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float


class RateLimiter(Protocol):
    """What the API layer needs from a rate-limit backend."""

    async def hit(self, key: str) -> RateLimitDecision:
        """Count one request from `key` (an API key's id, not its secret) and decide on it."""
        ...

    async def aclose(self) -> None:
        """Release the backend's resources (connections); the limiter is unusable after."""
        ...
