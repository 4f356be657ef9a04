"""In-process rate limiter: the default, correct for a single API process.

Implements the sliding log of `base` with a deque of timestamps per key. One
`threading.Lock` guards the whole state; `hit` never awaits while holding it,
so it is safe from concurrent tasks and from several threads (each with its
own event loop). Memory is bounded: a key's log holds at most
`policy.requests` timestamps, and keys that have been idle long enough to
carry no state (no request left in the window, no lock-out) are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from easel.ratelimit.base import RateLimitDecision, RateLimitPolicy


@dataclass
class _KeyState:
    log: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    last_seen: float = 0.0


class MemoryRateLimiter:
    """Sliding-log rate limiter kept in this process's memory.

    Args:
        policy: the limit to enforce.
        clock: returns the current time in seconds; injectable so tests can
            move time without sleeping.
    """

    def __init__(self, policy: RateLimitPolicy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        # Ordered by last hit, oldest first, so idle keys are found at the front.
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()
        # A key last seen this long ago carries no state: its logged requests
        # have left the window and any lock-out has ended (see `base`).
        self._idle_after = max(policy.window_seconds, policy.lockout_seconds)

    @property
    def key_count(self) -> int:
        """Number of keys currently tracked (idle keys are dropped on later hits)."""
        with self._lock:
            return len(self._keys)

    async def hit(self, key: str) -> RateLimitDecision:
        """Count one request from `key` and decide on it."""
        with self._lock:
            return self._hit(key, self._clock())

    async def aclose(self) -> None:
        """Forget every key."""
        with self._lock:
            self._keys.clear()

    def _hit(self, key: str, now: float) -> RateLimitDecision:
        policy = self.policy
        self._drop_idle(now)
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        else:
            self._keys.move_to_end(key)
        state.last_seen = max(state.last_seen, now)

        if state.locked_until > now:
            wait = state.locked_until - now
            return RateLimitDecision(False, policy.requests, 0, wait, wait)

        log = state.log
        cutoff = now - policy.window_seconds
        # Timestamps are appended in clock order; if the wall clock steps
        # back, a stale entry may outlive its window briefly, which only
        # errs on the side of refusing.
        while log and log[0] <= cutoff:
            log.popleft()

        if len(log) < policy.requests:
            log.append(now)
            return RateLimitDecision(
                True,
                policy.requests,
                policy.requests - len(log),
                0.0,
                log[0] + policy.window_seconds - now,
            )

        wait = max(policy.lockout_seconds, log[0] + policy.window_seconds - now)
        state.locked_until = now + wait
        return RateLimitDecision(False, policy.requests, 0, wait, wait)

    def _drop_idle(self, now: float) -> None:
        keys = self._keys
        while keys:
            state = next(iter(keys.values()))
            if state.last_seen + self._idle_after > now:
                break
            keys.popitem(last=False)
