"""Wakes waiters in this process when a job changes, from any thread.

A hint only: waiters also re-read the JobStore on a timer, so jobs finished
by another process (a broker-fed worker) are seen too.

A follower subscribes *before* it reads the job and keeps its subscription
while it reads, hands the job on and waits: a change that lands anywhere in
between leaves the subscription set, so its next wait returns at once instead
of sleeping until the next poll (the lost wake-up of wait-after-read).

A hint may say the job is `still_open` (it started, or only its progress
moved): a waiter that wants the final state alone subscribes without
progress and is not woken for it at all. Any other hint may have settled the
job.
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

    def __init__(self, *, progress: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.progress = progress

    def _wake(self, still_open: bool) -> None:  # any thread
        # a hint the job is still open would only wake a waiter for the final state to
        # wait again: one loop wake-up per step of every job it waits on
        if still_open and not self.progress:
            return
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._changed.set)

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
        self._following_progress = 0  # subscriptions that want still-open hints

    def notify(self, job_id: str, *, still_open: bool = False) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for waiter in waiters:
            waiter._wake(still_open)

    @contextmanager
    def subscribe(self, job_id: str, *, progress: bool = True) -> Iterator[Subscription]:
        """Hear of `job_id`'s changes while the block runs (call it on the event loop);
        with `progress=False`, only of those that may have settled it."""
        subscription = Subscription(progress=progress)
        with self._lock:
            self._waiters[job_id].add(subscription)
            self._following_progress += progress
        try:
            yield subscription
        finally:
            with self._lock:
                self._following_progress -= progress
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(subscription)
                    if not waiters:
                        del self._waiters[job_id]

    @property
    def follows_progress(self) -> bool:
        """Whether any subscription in this process wants to hear that jobs progressed."""
        return self._following_progress > 0

    @property
    def hears_cancels(self) -> bool:
        """Whether cancels from other processes reach this one now (they do not in-process:
        only the store carries them)."""
        return False

    def has_waiters(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._waiters
