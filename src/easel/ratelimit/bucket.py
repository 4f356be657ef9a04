"""Token buckets per key, in memory: a burst, then a steady rate.

Used where a sliding log per API key (`base`) does not fit: failed
authentications per client address, and request-log rows for requests
nobody authenticated. Each key holds `capacity` tokens and earns `rate` back
per second; an action takes one. A bucket that has refilled carries no state,
so such keys are dropped, and at most `max_keys` are tracked at all (the
least recently used go first), which bounds memory under a flood from many
addresses.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets keyed by a string, safe to share between threads.

    Args:
        capacity: tokens a full bucket holds (the burst).
        rate: tokens earned back per second.
        clock: current time in seconds; injectable so tests move time.
        max_keys: most keys tracked at once.
    """

    def __init__(
        self,
        capacity: float,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("capacity must be at least 1 and rate positive")
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token (0: it has one now); takes nothing."""
        with self._lock:
            bucket = self._refilled(key, self._clock())
            return 0.0 if bucket is None else self._wait(bucket)

    def take(self, key: str) -> float:
        """Take a token from `key`'s bucket; returns 0 if taken, else seconds to wait."""
        with self._lock:
            now = self._clock()
            bucket = self._refilled(key, now)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
                self._evict()
            if bucket.tokens < 1:
                return self._wait(bucket)
            bucket.tokens -= 1
            return 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def _wait(self, bucket: _Bucket) -> float:
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def _refilled(self, key: str, now: float) -> _Bucket | None:
        self._drop_full(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        self._buckets.move_to_end(key)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _drop_full(self, now: float) -> None:
        # Ordered by last use: once the oldest has not refilled, none after it has.
        refill = self.capacity / self.rate
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if oldest.updated + refill > now:
                break
            self._buckets.popitem(last=False)

    def _evict(self) -> None:
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
