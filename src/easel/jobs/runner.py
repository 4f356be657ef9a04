"""Runs a batch of jobs, given their ids, and records each outcome durably.

Shared by every executor and every process: the runner takes job ids only,
rebuilds each job from the job store and the artifact store (through the
injected `WorkDecoder`), takes the job's lease, runs the engine and writes
the outcome back to the store. A job's completion (and its charge) lives in
the database, never only in memory, so the process that took the request
may be anywhere.

Cancel reaches a running job two ways: the in-process event an executor
holds (immediate), and the job's `cancel_requested` flag in the store, read
after every step, so a cancel from any other process stops the job within
one step. A job whose lease was lost stops the same way.

Where a push channel already brings every cancel to the holding process
(the celery executor's Redis pub/sub sets the in-process event), the store
read is only the fallback for a lost message: `store_check_seconds` (asked
before each step, so it can fall to 0 while the channel is down) spaces
those reads out, so a step costs no database round trip. Settling checks the
flag itself (`JobStore.succeed` charges only a job nobody asked to cancel), so
a cancel whose message was lost is never charged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from easel.engines.base import EngineSource, GeneratedOutput
from easel.errors import Cancelled, EaselError
from easel.jobs.models import Artifact, JobView
from easel.jobs.notify import ChangeHint
from easel.jobs.progress import ProgressWriter
from easel.jobs.store import JobStore
from easel.jobs.work import Work, WorkDecoder
from easel.storage.base import ArtifactStore

log = logging.getLogger("easel.jobs")


def _no_one(job_id: str, *, still_open: bool = False) -> None:
    """The default `notify`: nobody waits in this process."""


class _Stop:
    """The engine's cancel flag: set once every job of the batch should stop."""

    def __init__(self, job_ids: Sequence[str], stopped: set[str]) -> None:
        self._job_ids = job_ids
        self._stopped = stopped

    def is_set(self) -> bool:
        return all(job_id in self._stopped for job_id in self._job_ids)


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        engines: EngineSource,
        decode: WorkDecoder,
        *,
        owner: str,
        lease: timedelta,
        progress_interval: float = 0.5,
        store_check_seconds: Callable[[], float] = lambda: 0.0,
        notify: ChangeHint = _no_one,
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._engines = engines
        self._decode = decode
        self.owner = owner
        self._lease = lease
        self._progress_interval = progress_interval
        self._store_check_seconds = store_check_seconds
        self._notify = notify
        self._progress = ProgressWriter(store, notify, owner=owner)

    def flush(self) -> None:
        """Wait for the progress writes already queued (before what they publish on stops)."""
        self._progress.flush()

    def run(
        self, job_ids: Sequence[str], cancel: Mapping[str, threading.Event] | None = None
    ) -> None:
        """Run jobs that can share one engine call; `cancel` holds in-process cancel events."""
        events = cancel or {}
        live = [
            view
            for job_id in job_ids
            if (view := self._store.mark_running(job_id, owner=self.owner, lease=self._lease))
        ]
        for view in live:
            self._progress.started(view.id)
        works = {view.id: work for view in live if (work := self._load(view)) is not None}
        by_engine: dict[str, list[str]] = {}
        for job_id, work in works.items():
            by_engine.setdefault(work.engine_id, []).append(job_id)
        for engine_id, ids in by_engine.items():
            self._run_on(engine_id, ids, works, events)

    def _load(self, view: JobView) -> Work | None:
        job_id = view.id
        try:
            return self._decode(
                view.engine_id,
                view.params,
                lambda name: self._artifacts.get(f"jobs/{job_id}/{name}"),
            )
        except Exception:  # a job that cannot be rebuilt fails alone, uncharged
            log.exception("job %s could not be rebuilt from the store", job_id)
            self._store.fail(
                job_id,
                status=500,
                name="server_error",
                message="The generation's stored request could not be read.",
                owner=self.owner,
            )
            self._notify(job_id)
            return None

    def _run_on(
        self,
        engine_id: str,
        job_ids: list[str],
        works: Mapping[str, Work],
        events: Mapping[str, threading.Event],
    ) -> None:
        stopped: set[str] = set()
        last_write = 0.0
        last_store_check = time.monotonic()

        def check_stops(*, read_store: bool = True) -> None:
            nonlocal last_store_check
            fresh = {i for i in job_ids if i not in stopped and _is_set(events.get(i))}
            if read_store:
                last_store_check = time.monotonic()
                open_ids = [i for i in job_ids if i not in stopped]
                fresh |= self._store.to_stop(open_ids, owner=self.owner)
            for job_id in fresh - stopped:
                self._cancelled(job_id)
                stopped.add(job_id)

        def progress(step: int, total: int) -> None:
            nonlocal last_write
            # a job cancelled inside a running batch stops here
            due = time.monotonic() - last_store_check >= self._store_check_seconds()
            check_stops(read_store=due)
            now = time.monotonic()
            # The last step's value is the settle's own (progress 1.0, in its UPDATE): a
            # write of it now would hold the job's row lock just as the settle wants it.
            if step >= total or now - last_write < self._progress_interval:
                return
            last_write = now
            for job_id in job_ids:
                if job_id not in stopped:
                    self._progress.post(job_id, step / total)

        try:
            engine = self._engines.get(engine_id)
            try:
                results = engine.generate(
                    [works[i].request for i in job_ids],
                    progress=progress,
                    cancel=_Stop(job_ids, stopped),  # type: ignore[arg-type]
                )
            finally:  # each job is settled next: its unwritten progress is moot
                self._progress.discard(job_ids)
        except Cancelled:
            for job_id in job_ids:
                self._cancelled(job_id)
        except EaselError as exc:
            self._fail_all(job_ids, exc.status, exc.name, exc.message)
        except Exception:  # an engine bug must not kill the worker or leak credits
            log.exception("engine %s failed", engine_id)
            self._fail_all(job_ids, 500, "server_error", "The generation failed unexpectedly.")
        else:
            # this process's cancel events; the store's flag is checked by the settle itself
            check_stops(read_store=False)
            for job_id, result in zip(job_ids, results, strict=True):
                if job_id in stopped:
                    continue
                artifacts = [
                    self._save(job_id, index, output, works[job_id])
                    for index, output in enumerate(result.images)
                ]
                note = f"{engine_id} {works[job_id].request.kind}"
                if self._store.succeed(job_id, artifacts, note=note, owner=self.owner):
                    continue
                self._artifacts.delete_prefix(f"jobs/{job_id}/out")
                if not self._cancelled(job_id):  # else its cancel came after the last check
                    log.warning("job %s was settled elsewhere (lease lost); result dropped", job_id)
        for job_id in job_ids:
            self._notify(job_id)

    def _save(self, job_id: str, index: int, output: GeneratedOutput, work: Work) -> Artifact:
        encoded = work.encode(output)
        key = f"jobs/{job_id}/out/{index}.{encoded.extension}"
        self._artifacts.put(key, encoded.data)
        return Artifact(
            key=key,
            seed=output.seed,
            finish_reason=encoded.finish_reason,
            media_type=encoded.media_type,
        )

    def _cancelled(self, job_id: str) -> bool:
        """Settle the job as cancelled, uncharged; False if it was not ours to settle."""
        cancelled = self._store.fail(
            job_id,
            status=Cancelled.status,
            name=Cancelled.name,
            message="The generation was cancelled.",
            cancelled=True,
            owner=self.owner,
        )
        self._notify(job_id)
        return cancelled

    def _fail_all(self, job_ids: list[str], status: int, name: str, message: str) -> None:
        for job_id in job_ids:
            self._store.fail(job_id, status=status, name=name, message=message, owner=self.owner)


def _is_set(event: threading.Event | None) -> bool:
    return event is not None and event.is_set()
