"""The job service: durable jobs, handed to an executor by id, followed and cancelled.

Every generation is a durable job. `submit` stores the job's request (JSON
plus input artifacts) and reserves its credits in one transaction, then hands
the job's id to the executor; `wait` follows it to a final state; `cancel`
stops it through the store (seen by any process) and the executor (fast,
in-process). An idempotency key attaches a retry to the job of the first
attempt before anything is reserved, so it is never run or charged twice.

The service knows nothing of API operations: what a job's params mean is the
generation layer's business (see `easel.jobs.work`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from easel.errors import Cancelled, Conflict, GenerationNotFound, InvalidRequest, PaymentRequired
from easel.jobs.executors.base import Executor
from easel.jobs.models import FINAL_STATUSES, JobView
from easel.jobs.notify import JobNotifier
from easel.jobs.store import WORKER_STOPPED, IdempotencyClash, JobStore, NewJob
from easel.storage.base import ArtifactStore

log = logging.getLogger("easel.jobs")

MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class JobHandle:
    """A submitted job: follow its progress, await its result, or cancel it.

    Backed by the durable JobStore, not by executor memory, so a handle works
    the same whichever executor (and whichever process) runs the job.
    """

    job: JobView
    _service: JobService

    @property
    def id(self) -> str:
        return self.job.id

    def progress(self) -> AsyncIterator[JobView]:
        """The job each time its status or progress changes, ending with its final state."""
        return self._service.follow(self.id)

    async def result(self) -> JobView:
        """The job in its final state."""
        return await self._service.wait(self.id)

    async def cancel(self) -> None:
        await anyio.to_thread.run_sync(self._service.cancel_job, self.id)


@dataclass(frozen=True)
class Submission:
    """Who asks for a generation."""

    organization_id: str
    user_id: str
    api_key_id: str
    request_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class JobRequest:
    """What to run: opaque params and input blobs (named relative to the job), and its price."""

    engine_id: str
    kind: str
    params: dict[str, Any]
    params_hash: str
    blobs: dict[str, bytes]
    cost_milli: int
    # jobs with equal keys may run as one engine call
    batch_key: str


class JobService:
    def __init__(
        self,
        *,
        store: JobStore,
        artifacts: ArtifactStore,
        executor: Executor,
        notifier: JobNotifier,
        owner: str,
        lease: timedelta,
        retention: timedelta,
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._executor = executor
        self._notifier = notifier
        self.owner = owner
        self._lease = lease
        self._retention = retention

    async def submit(self, job: JobRequest, who: Submission) -> JobHandle:
        """Create (or, for a repeated idempotency key, find) the job and queue it."""
        key = who.idempotency_key
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise InvalidRequest(f"idempotency-key: must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        if key is not None:
            existing = await anyio.to_thread.run_sync(self._existing, who, job.params_hash)
            if existing is not None:
                return JobHandle(existing, self)
        view = await anyio.to_thread.run_sync(self._create, job, who)
        return JobHandle(view, self)

    def _create(self, job: JobRequest, who: Submission) -> JobView:
        job_id = secrets.token_hex(32)
        try:
            for name, blob in job.blobs.items():
                self._artifacts.put(f"jobs/{job_id}/{name}", blob)
            view, open_jobs = self._store.create(
                NewJob(
                    job_id=job_id,
                    organization_id=who.organization_id,
                    user_id=who.user_id,
                    api_key_id=who.api_key_id,
                    request_id=who.request_id,
                    idempotency_key=who.idempotency_key,
                    engine_id=job.engine_id,
                    kind=job.kind,
                    params_hash=job.params_hash,
                    params=job.params,
                    cost_milli=job.cost_milli,
                    owner=self.owner,
                    lease=self._lease,
                    retention=self._retention,
                )
            )
        except IdempotencyClash:
            # a concurrent request with the same key won the race: attach to its job
            self._artifacts.delete_prefix(f"jobs/{job_id}")
            existing = self._existing(who, job.params_hash)
            if existing is None:
                raise _reused_key() from None
            return existing
        except PaymentRequired:
            # a concurrent request with the same key may have spent the credits on its
            # job (PostgreSQL holds them before it inserts): attach to that job
            self._artifacts.delete_prefix(f"jobs/{job_id}")
            existing = self._existing(who, job.params_hash) if who.idempotency_key else None
            if existing is None:
                raise
            return existing
        except BaseException:
            self._artifacts.delete_prefix(f"jobs/{job_id}")
            raise
        try:
            self._executor.submit(
                job_id,
                organization_id=who.organization_id,
                batch_key=job.batch_key,
                open_jobs=open_jobs,
            )
        except BaseException as exc:
            self._store.fail(
                job_id,
                status=getattr(exc, "status", 503),
                name=getattr(exc, "name", "server_overloaded"),
                message=str(exc),
            )
            raise
        return view

    def _existing(self, who: Submission, params_hash: str) -> JobView | None:
        assert who.idempotency_key is not None
        existing = self._store.find_for_key(who.api_key_id, who.idempotency_key)
        if existing is not None and existing.params_hash != params_hash:
            raise _reused_key()
        return existing

    async def wait(self, job_id: str) -> JobView:
        """Wait for a job's final state. A sync request has no use for progress: it
        subscribes without it, so only a change that may have settled the job (or the
        poll) wakes it. Status reads on every progress notice were a quarter of an API
        process's CPU per generation. After such a change the job is read whole at
        once: it is nearly always final by then, and a status read first was one more
        round trip between the worker's settle and the response."""
        # subscribed before the first read, as in `follow`: no change is missed
        with self._notifier.subscribe(job_id, progress=False) as changed:
            read_whole = False
            while True:
                if read_whole:
                    view = await anyio.to_thread.run_sync(self._store.get, job_id)
                    if view is None:
                        break
                    if view.done:
                        return view
                else:
                    status = await anyio.to_thread.run_sync(self._store.status, job_id)
                    if status is None:
                        break
                    if status in FINAL_STATUSES:
                        read_whole = True
                        continue
                read_whole = await changed.wait(self._notifier.poll_seconds)
        raise GenerationNotFound(f"id: the generation {job_id} no longer exists.")

    async def follow(self, job_id: str) -> AsyncGenerator[JobView, None]:
        """Yield the job every time it changes, ending with its final state."""
        last: tuple[str, float] | None = None
        # subscribed before the first read: a change between a read and the wait that
        # follows it (or while the caller holds a yielded view) still wakes us
        with self._notifier.subscribe(job_id) as changed:
            while True:
                view = await anyio.to_thread.run_sync(self._store.get, job_id)
                if view is None:
                    return
                if (view.status, view.progress) != last:
                    last = (view.status, view.progress)
                    yield view
                if view.done:
                    return
                await changed.wait(self._notifier.poll_seconds)

    async def get(self, api_key_id: str, ref: str) -> JobView:
        """A job of this API key (by id or idempotency key); 404 for anyone else's."""
        view = await anyio.to_thread.run_sync(self._store.find_for_key, api_key_id, ref)
        if view is None:
            raise GenerationNotFound("id: the generation either does not exist or has expired.")
        return view

    async def recent(self, api_key_id: str, *, limit: int = 50, offset: int = 0) -> list[JobView]:
        """This key's jobs, newest first; `offset` skips that many for the next page."""
        return await anyio.to_thread.run_sync(
            lambda: self._store.recent_for_key(api_key_id, limit=limit, offset=offset)
        )

    async def cancel(self, api_key_id: str, ref: str) -> JobView:
        """Cancel a queued or running job of this key; a finished one is left as it is."""
        view = await self.get(api_key_id, ref)
        if not view.done:
            await anyio.to_thread.run_sync(self.cancel_job, view.id)
        return await self.get(api_key_id, view.id)

    def cancel_job(self, job_id: str) -> None:
        self._store.request_cancel(job_id)
        signalled = self._executor.cancel(job_id)
        view = self._store.get(job_id)
        if view is not None and view.status == "queued":
            # out of the queue (or never seen by this executor): settle it now
            self._store.fail(
                job_id,
                status=Cancelled.status,
                name=Cancelled.name,
                message="The generation was cancelled.",
                cancelled=True,
            )
        elif not signalled and view is not None and view.status == "running":
            log.info("job %s runs elsewhere; its worker will see cancel_requested", job_id)
        self._notifier.notify(job_id)

    @property
    def artifacts(self) -> ArtifactStore:
        """Where jobs' inputs and outputs are kept (results are read from here)."""
        return self._artifacts

    # -- housekeeping ----------------------------------------------------------------------

    def recover_expired_leases(self, now: datetime | None = None) -> int:
        """Fail the open jobs whose worker stopped renewing its lease, releasing their credits.

        Whoever held such a job died, hung or lost its database: a worker that
        comes back finds its lease gone and can no longer write or charge.
        """
        now = now or datetime.now(UTC)
        recovered = 0
        for job_id in self._store.expired_leases(now):
            if self._store.fail(
                job_id,
                status=500,
                name="server_error",
                message=WORKER_STOPPED,
                expired_before=now,
            ):
                recovered += 1
                self._notifier.notify(job_id)
        if recovered:
            log.warning("failed %d job(s) whose lease expired", recovered)
        return recovered

    def sweep_expired(self, now: datetime | None = None) -> int:
        """Delete finished jobs (and their artifacts) past their retention."""
        expired = self._store.expired(now or datetime.now(UTC))
        for job_id in expired:
            self._artifacts.delete_prefix(f"jobs/{job_id}")
        if expired:
            self._store.delete(expired)
        return len(expired)


def _reused_key() -> Conflict:
    return Conflict(
        "idempotency-key: this key was already used with a different request",
        name="idempotency_key_reused",
    )
