"""Wakes waiters in this process when a job changes, from any thread.

A hint only: waiters also re-read the JobStore on a timer, so jobs finished
by another process (a broker-fed worker) are seen too.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict


class JobNotifier:
    # how often waiters re-read the store anyway: a hint may come from another process
    poll_seconds = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: defaultdict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )

    def notify(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def wait(self, job_id: str, timeout: float) -> None:
        """Return when `job_id` changes or after `timeout` seconds."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[job_id].add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(entry)
                    if not waiters:
                        del self._waiters[job_id]
