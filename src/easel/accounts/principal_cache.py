"""Recently authenticated keys, kept for a second so a busy key is not looked up on
every request.

Authentication is a database round trip plus a hop to a worker thread; under 16
concurrent clients it was a third of an authenticated request's CPU. A hit is a
dict lookup on the event loop. What it costs: a key revoked (or a membership
changed) by another process keeps working in this one for up to `seconds`; in this
process, every change through `AccountsService` clears the cache at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from easel.accounts.models import Principal

# Bounds memory against a flood of distinct valid keys; far above any real key count.
DEFAULT_MAX_ENTRIES = 10_000


class PrincipalCache:
    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # (key hash, Organization header) -> (expiry, principal); insertion-ordered, so
        # the first entry is the oldest
        self._entries: dict[tuple[str, str | None], tuple[float, Principal]] = {}
        self._generation = 0  # bumped by every clear

    @property
    def generation(self) -> int:
        """Pass to `put` what this was before the lookup whose answer it stores."""
        return self._generation

    @property
    def enabled(self) -> bool:
        return self._seconds > 0

    def get(self, key_hash: str, organization_id: str | None) -> Principal | None:
        entry = self._entries.get((key_hash, organization_id))
        if entry is None:
            return None
        expires, principal = entry
        if self._clock() >= expires:
            return None
        return principal

    def put(
        self,
        key_hash: str,
        organization_id: str | None,
        principal: Principal,
        *,
        generation: int,
    ) -> None:
        """Keep `principal`, unless the cache was cleared since `generation` was read:
        the lookup may have raced a revocation."""
        if not self.enabled:
            return
        with self._lock:
            if generation != self._generation:
                return
            key = (key_hash, organization_id)
            self._entries.pop(key, None)  # re-inserted last: it is the newest now
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (self._clock() + self._seconds, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1
