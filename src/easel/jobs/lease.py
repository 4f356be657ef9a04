"""Keeps a worker's leases alive while it holds jobs.

A thread, not an event-loop task: it must beat while a long engine call
holds the GIL-releasing worker threads busy, and it must outlive no one
(stopping it joins it). If the process dies, renewals stop and the leases
expire, which is what lets recovery settle the jobs it held.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from easel.jobs.store import JobStore

log = logging.getLogger("easel.jobs")


class LeaseKeeper:
    def __init__(self, store: JobStore, owner: str, lease: timedelta) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="easel-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        # renew three times per lease, so one slow database round trip loses nothing
        interval = self._lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self._store.renew_leases(self._owner, self._lease)
            except Exception:  # a failed renewal is retried on the next beat
                log.exception("renewing the leases of %s failed", self._owner)
