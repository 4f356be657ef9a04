"""The loop of a local worker process: batches in by id, job changes and completions out.

The API process (`executors/processes.py`) keeps the queue and sends a
worker one batch of job ids at a time over its channel. The worker runs
the batch with the same `JobRunner` as every executor (which takes each
job's lease, rebuilds it from the store, runs the engine and settles it in
the database), keeps its leases alive with a `LeaseKeeper`, and tells the
API process when a job changed (so waiters wake at once) and when the
batch is done (so the scheduler can hand out more).

A reader thread takes the API's messages while a batch runs, so a cancel
reaches the running job's event within a step. If the API process goes
away (end of file), the worker calls `orphaned` — the real process exits
at once and its leases expire, so whoever starts next recovers the jobs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from easel.jobs.executors.base import fail_crashed_batch
from easel.jobs.executors.channel import (
    BatchDone,
    CancelJob,
    Channel,
    JobChanged,
    RunBatch,
    StopWorker,
    WorkerReady,
    WorkerStarted,
)
from easel.jobs.lease import LeaseKeeper
from easel.jobs.runner import JobRunner
from easel.jobs.store import JobStore

log = logging.getLogger("easel.jobs")


class WorkerLoop:
    """Serves one channel until told to stop (or the API process disappears).

    Args:
        channel: this worker's end of the pipe.
        runner: runs batches; its `notify` should be `self.job_changed`.
        store: settles a batch the runner could not (a bug), as the in-process executor does.
        leases: renews the leases of the jobs this worker runs.
        preload: starts loading models in the background; returns the thread, or None.
        not_ready: what is still loading (or failed), or None.
        orphaned: called when the API process is gone.
    """

    def __init__(
        self,
        channel: Channel,
        runner: JobRunner,
        store: JobStore,
        leases: LeaseKeeper,
        *,
        preload: Callable[[], threading.Thread | None],
        not_ready: Callable[[], str | None],
        orphaned: Callable[[], None],
    ) -> None:
        self._channel = channel
        self._runner = runner
        self._store = store
        self._leases = leases
        self._preload = preload
        self._not_ready = not_ready
        self._orphaned = orphaned
        self._batches: queue.Queue[RunBatch | None] = queue.Queue()
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        # the batch loop, the progress writer and the ready reporter all send, and a
        # pipe end written by two threads at once may corrupt its messages
        self._send_lock = threading.Lock()

    def job_changed(self, job_id: str, *, still_open: bool = False) -> None:
        """The runner's `notify`: forwards the hint to the API process's waiters."""
        self._send(JobChanged(job_id, still_open))

    def serve(self) -> None:
        self._leases.start()
        try:
            loading = self._preload()
            self._send(WorkerStarted(owner=self._runner.owner, not_ready=self._not_ready()))
            if loading is not None:
                threading.Thread(
                    target=self._report_ready, args=(loading,), name="easel-ready", daemon=True
                ).start()
            threading.Thread(target=self._read, name="easel-channel", daemon=True).start()
            while (batch := self._batches.get()) is not None:
                self._run(batch)
        finally:
            self._runner.flush()
            self._leases.stop()

    def _report_ready(self, loading: threading.Thread) -> None:
        loading.join()
        self._send(WorkerReady(self._not_ready()))

    def _read(self) -> None:
        while True:
            try:
                message = self._channel.recv()
            except (EOFError, OSError):
                log.error("the API process is gone; this worker stops")
                self._cancel_all()
                self._orphaned()
                self._batches.put(None)
                return
            if isinstance(message, RunBatch):
                with self._lock:  # events exist before a cancel for them can arrive
                    self._events.update((job_id, threading.Event()) for job_id in message.job_ids)
                self._batches.put(message)
            elif isinstance(message, CancelJob):
                with self._lock:
                    event = self._events.get(message.job_id)
                if event is not None:
                    event.set()
            elif isinstance(message, StopWorker):
                self._cancel_all()
                self._batches.put(None)
                return

    def _run(self, batch: RunBatch) -> None:
        with self._lock:
            events = {job_id: self._events[job_id] for job_id in batch.job_ids}
        try:
            self._runner.run(batch.job_ids, cancel=events)
        except Exception:  # keep the worker alive and settle whatever the runner could not
            log.exception("worker failed on a batch")
            fail_crashed_batch(self._store, batch.job_ids)
        finally:
            with self._lock:
                for job_id in batch.job_ids:
                    self._events.pop(job_id, None)
            self._send(BatchDone(batch.batch))

    def _cancel_all(self) -> None:
        with self._lock:
            for event in self._events.values():
                event.set()

    def _send(self, message: WorkerStarted | WorkerReady | JobChanged | BatchDone) -> None:
        try:
            with self._send_lock:
                self._channel.send(message)
        except OSError:  # the API process is gone; the reader thread handles that
            pass
