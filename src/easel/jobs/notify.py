"""Wakes waiters in this process when a job changes, from any thread.

A hint only: waiters also re-read the JobStore on a timer, so jobs finished
by another process (a broker-fed worker) are seen too.

A follower subscribes *before* it reads the job and keeps its subscription
while it reads, hands the job on and waits: a change that lands anywhere in
between leaves the subscription set, so its next wait returns at once instead
of sleeping until the next poll (the lost wake-up of wait-after-read).

A hint may say the job is `still_open` (it started, or only its progress
moved): a waiter that wants the final state alone need not read the store
for it. Any other hint may have settled the job.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class ChangeHint(Protocol):
    """How a runner tells waiters a job changed (`JobNotifier.notify`'s signature)."""

    def __call__(self, job_id: str, *, still_open: bool = False) -> None: ...


class Subscription:
    """One follower's interest in one job: remembers a change until `wait` consumes it."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._maybe_settled = False

    def _wake(self, still_open: bool) -> None:  # any thread
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._mark, still_open)

    def _mark(self, still_open: bool) -> None:  # on the loop, so flag and event agree
        if not still_open:
            self._maybe_settled = True
        self._changed.set()

    def maybe_settled(self) -> bool:
        """Whether a change heard since the last call may have settled the job (consumes
        it); False when every one said the job was still open."""
        settled, self._maybe_settled = self._maybe_settled, False
        return settled

    async def wait(self, timeout: float) -> bool:
        """Return True at once if the job changed since the last wait (or since subscribing),
        else when it changes; False after `timeout` seconds without a change."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        # Cleared before the caller re-reads the job: a change notified from here on
        # sets it again, and one notified earlier is already in what the caller reads.
        self._changed.clear()
        return True


class JobNotifier:
    # how often waiters re-read the store anyway: a hint may come from another process
    poll_seconds = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: defaultdict[str, set[Subscription]] = defaultdict(set)

    def notify(self, job_id: str, *, still_open: bool = False) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for waiter in waiters:
            waiter._wake(still_open)

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[Subscription]:
        """Hear of `job_id`'s changes while the block runs (call it on the event loop)."""
        subscription = Subscription()
        with self._lock:
            self._waiters[job_id].add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(subscription)
                    if not waiters:
                        del self._waiters[job_id]

    @property
    def hears_cancels(self) -> bool:
        """Whether cancels from other processes reach this one now (they do not in-process:
        only the store carries them)."""
        return False

    def has_waiters(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._waiters
