"""Writes jobs' progress off the engine's thread.

Progress is a hint (a waiter re-reads the job; settling sets it to 1.0), but
writing it where the engine reports it made every reported step wait for a
database round trip and a publish: 3.7 ms of a 200 ms job in a celery worker
here, and time a GPU's denoising loop spends launching no kernels. So the
runner posts the newest value and one writer thread stores it and tells the
waiters. A value still waiting when a newer one comes is replaced, and one
still waiting when its job settles is dropped. A write that fails is logged
and dropped: it must not fail the generation. The hint that a job started
goes the same way, in order with its progress.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from easel.jobs.notify import ChangeHint
from easel.jobs.store import JobStore

log = logging.getLogger("easel.jobs")


class ProgressWriter:
    def __init__(self, store: JobStore, notify: ChangeHint, *, owner: str) -> None:
        self._store = store
        self._notify = notify
        self._owner = owner
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}
        # one thread: a job's writes land in the order they were posted
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="easel-progress")

    def post(self, job_id: str, progress: float) -> None:
        """Store `progress` for `job_id` soon (returns at once)."""
        with self._lock:
            queued = job_id in self._pending
            self._pending[job_id] = progress
        if not queued:
            self._writer.submit(self._write, job_id)

    def started(self, job_id: str) -> None:
        """Tell the waiters that `job_id` runs, from the writer thread (returns at once):
        the engine need not wait for the hint (a Redis round trip in a celery worker)."""
        self._writer.submit(self._tell, job_id)

    def discard(self, job_ids: Iterable[str]) -> None:
        """Drop the values not yet written for these jobs (they are being settled)."""
        with self._lock:
            for job_id in job_ids:
                self._pending.pop(job_id, None)

    def flush(self) -> None:
        """Wait until every value posted so far is written (or dropped)."""
        self._writer.submit(lambda: None).result()

    def _write(self, job_id: str) -> None:
        with self._lock:
            progress = self._pending.pop(job_id, None)
        if progress is None:  # discarded: its job is being settled
            return
        try:
            self._store.set_progress(job_id, progress, owner=self._owner)
        except Exception:  # the job goes on; its next write, or its settle, says more
            log.warning("could not store job %s's progress", job_id, exc_info=True)
            return
        self._tell(job_id)

    def _tell(self, job_id: str) -> None:
        try:
            self._notify(job_id, still_open=True)
        except Exception:  # a hint: waiters re-read the store on their poll anyway
            log.warning("could not tell job %s's waiters it changed", job_id, exc_info=True)
