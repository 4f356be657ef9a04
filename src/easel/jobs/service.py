"""The job service: what the HTTP layer calls to run, follow and cancel generations.

Every generation is a durable job. `submit` validates, prices and reserves
credits, records the job and hands it to the executor; `wait` follows it to a
final state; `cancel` stops it. Idempotency keys attach a retry to the job of
the first attempt, so it is never run or charged twice.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from easel.billing.prices import generation_cost_milli
from easel.billing.service import BillingService
from easel.engines.base import EngineSpec, GenerationKind, GenerationRequest
from easel.engines.registry import EngineRegistry
from easel.errors import Cancelled, Conflict, GenerationNotFound, InvalidRequest
from easel.jobs.codec import encode_request
from easel.jobs.executors.base import Executor
from easel.jobs.models import JobView
from easel.jobs.notify import JobNotifier
from easel.jobs.runner import JobPayload
from easel.jobs.scheduler import QueuedJob
from easel.jobs.store import IdempotencyClash, JobStore
from easel.safety.prompts import PromptFilter
from easel.storage.base import ArtifactStore

log = logging.getLogger("easel.jobs")

_KIND_NAMES = {"generate": "a generation", "inpaint": "an inpainting", "upscale": "an upscale"}
MAX_IDEMPOTENCY_KEY = 255
# Waiters re-read the store at least this often (a hint may come from another process).
POLL_SECONDS = 1.0


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


class JobService:
    def __init__(
        self,
        *,
        engines: EngineRegistry,
        billing: BillingService,
        store: JobStore,
        artifacts: ArtifactStore,
        executor: Executor,
        notifier: JobNotifier,
        prompt_filter: PromptFilter,
        owner: str,
        retention: timedelta,
    ) -> None:
        self._engines = engines
        self._billing = billing
        self._store = store
        self._artifacts = artifacts
        self._executor = executor
        self._notifier = notifier
        self._prompt_filter = prompt_filter
        self.owner = owner
        self._retention = retention

    def engine_for(self, engine_id: str, kind: GenerationKind) -> EngineSpec:
        """The engine's spec, or 404 / 400 if it does not exist or cannot do `kind`."""
        spec = self._engines.spec(engine_id)
        if not spec.serves(kind):
            raise InvalidRequest(
                f"engine {engine_id} is {_KIND_NAMES[spec.kind]} engine and does not "
                f"support {kind}",
            )
        return spec

    async def submit(
        self,
        spec: EngineSpec,
        request: GenerationRequest,
        who: Submission,
        *,
        requested_seed: int,
        parameters: dict[str, Any],
    ) -> JobHandle:
        """Create (or, for a repeated idempotency key, find) the job for `request`."""
        if who.idempotency_key is not None and not 0 < len(who.idempotency_key) <= 255:
            raise InvalidRequest(f"idempotency-key: must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        self._prompt_filter.check(p.text for p in request.prompts)
        encoded = encode_request(spec.id, request, requested_seed=requested_seed)
        if who.idempotency_key is not None:
            existing = await self._existing(who, encoded.params_hash)
            if existing is not None:
                return JobHandle(existing, self)
        job = await anyio.to_thread.run_sync(
            lambda: self._create(spec, request, who, encoded, parameters)
        )
        return JobHandle(job, self)

    def _create(
        self,
        spec: EngineSpec,
        request: GenerationRequest,
        who: Submission,
        encoded: Any,
        parameters: dict[str, Any],
    ) -> JobView:
        cost = generation_cost_milli(
            spec,
            width=request.width,
            height=request.height,
            steps=request.steps,
            samples=request.samples,
        )
        reservation = self._billing.reserve(who.organization_id, cost, request_id=who.request_id)
        job_id = secrets.token_hex(32)
        try:
            for field, blob in encoded.blobs.items():
                self._artifacts.put(f"jobs/{job_id}/in-{field}.png", blob)
            self._store.create(
                job_id=job_id,
                organization_id=who.organization_id,
                user_id=who.user_id,
                api_key_id=who.api_key_id,
                request_id=who.request_id,
                idempotency_key=who.idempotency_key,
                engine_id=spec.id,
                kind=request.kind,
                params_hash=encoded.params_hash,
                params=encoded.params,
                reservation_id=reservation.id,
                credits_reserved_milli=cost,
                owner=self.owner,
                retention=self._retention,
            )
        except IdempotencyClash:
            # a concurrent request with the same key won the race: attach to its job
            self._billing.release(reservation.id)
            self._artifacts.delete_prefix(f"jobs/{job_id}")
            assert who.idempotency_key is not None
            existing = self._store.find_for_key(who.api_key_id, who.idempotency_key)
            if existing is None or existing.params_hash != encoded.params_hash:
                raise _reused_key() from None
            return existing
        except BaseException:
            self._billing.release(reservation.id)
            self._artifacts.delete_prefix(f"jobs/{job_id}")
            raise
        queued = QueuedJob(
            job_id=job_id,
            organization_id=who.organization_id,
            batch_key=(spec.id, request.batch_key()),
            payload=JobPayload(engine_id=spec.id, request=request, parameters=parameters),
        )
        try:
            self._executor.submit(queued)
        except BaseException as exc:
            status = getattr(exc, "status", 503)
            self._store.fail(
                job_id,
                status=status,
                name=getattr(exc, "name", "server_overloaded"),
                message=str(exc),
            )
            raise
        view = self._store.get(job_id)
        assert view is not None
        return view

    async def _existing(self, who: Submission, params_hash: str) -> JobView | None:
        assert who.idempotency_key is not None
        existing = await anyio.to_thread.run_sync(
            self._store.find_for_key, who.api_key_id, who.idempotency_key
        )
        if existing is not None and existing.params_hash != params_hash:
            raise _reused_key()
        return existing

    async def wait(self, job_id: str) -> JobView:
        """Follow a job to its final state."""
        async for view in self.follow(job_id):
            if view.done:
                return view
        raise GenerationNotFound(f"id: the generation {job_id} no longer exists.")

    async def follow(self, job_id: str) -> AsyncIterator[JobView]:
        """Yield the job every time it changes, ending with its final state."""
        last: tuple[str, float] | None = None
        while True:
            view = await anyio.to_thread.run_sync(self._store.get, job_id)
            if view is None:
                return
            if (view.status, view.progress) != last:
                last = (view.status, view.progress)
                yield view
            if view.done:
                return
            await self._notifier.wait(job_id, POLL_SECONDS)

    async def get(self, api_key_id: str, ref: str) -> JobView:
        """A job of this API key (by id or idempotency key); 404 for anyone else's."""
        view = await anyio.to_thread.run_sync(self._store.find_for_key, api_key_id, ref)
        if view is None:
            raise GenerationNotFound("id: the generation either does not exist or has expired.")
        return view

    async def recent(self, api_key_id: str, *, limit: int = 50) -> list[JobView]:
        return await anyio.to_thread.run_sync(
            lambda: self._store.recent_for_key(api_key_id, limit=limit)
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

    def artifact_bytes(self, key: str) -> bytes:
        return self._artifacts.get(key)

    # -- housekeeping ----------------------------------------------------------------------

    def recover_orphans(self) -> int:
        """Fail the jobs a killed server left open, releasing their credits."""
        orphans = self._store.orphans(host=socket.gethostname(), live_owner=self.owner)
        for job_id in orphans:
            self._store.fail(
                job_id,
                status=500,
                name="server_error",
                message="The server stopped while the generation was running.",
            )
        if orphans:
            log.warning("marked %d orphaned job(s) failed", len(orphans))
        return len(orphans)

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
