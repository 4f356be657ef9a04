"""JobStore: durable job state. Every transition is one conditional UPDATE.

A job's final state and its credit settlement commit in one transaction, so
a crash can never leave a finished job uncharged or a failed one charged.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from easel.billing.service import BillingService
from easel.db.engine import Database
from easel.db.models import Job
from easel.jobs.models import Artifact, JobView

OPEN = ("queued", "running")


def process_owner() -> str:
    """Who runs jobs in this process: `host:pid:boot`, so a restart can find orphans."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class IdempotencyClash(Exception):
    """Another job already holds this API key's idempotency key."""


class JobStore:
    def __init__(self, db: Database, billing: BillingService) -> None:
        self._db = db
        self._billing = billing

    def create(
        self,
        *,
        job_id: str,
        organization_id: str,
        user_id: str,
        api_key_id: str,
        request_id: str,
        idempotency_key: str | None,
        engine_id: str,
        kind: str,
        params_hash: str,
        params: dict[str, Any],
        reservation_id: str,
        credits_reserved_milli: int,
        owner: str,
        retention: timedelta,
    ) -> None:
        now = datetime.now(UTC)
        try:
            with self._db.session() as session:
                session.add(
                    Job(
                        id=job_id,
                        organization_id=organization_id,
                        user_id=user_id,
                        api_key_id=api_key_id,
                        request_id=request_id,
                        idempotency_key=idempotency_key,
                        engine_id=engine_id,
                        kind=kind,
                        params_hash=params_hash,
                        params=params,
                        status="queued",
                        owner=owner,
                        reservation_id=reservation_id,
                        credits_reserved_milli=credits_reserved_milli,
                        created_at=now,
                        expires_at=now + retention,
                        artifacts=[],
                    )
                )
        except IntegrityError as exc:
            raise IdempotencyClash(idempotency_key) from exc

    def get(self, job_id: str) -> JobView | None:
        with self._db.session() as session:
            row = session.get(Job, job_id)
            return _view(row) if row is not None else None

    def find_for_key(self, api_key_id: str, ref: str) -> JobView | None:
        """A job of this API key by id or by its idempotency key; never another key's."""
        with self._db.session() as session:
            row = session.scalars(
                select(Job).where(
                    Job.api_key_id == api_key_id,
                    (Job.id == ref) | (Job.idempotency_key == ref),
                )
            ).first()
            return _view(row) if row is not None else None

    def recent_for_key(self, api_key_id: str, *, limit: int = 50) -> list[JobView]:
        with self._db.session() as session:
            rows = session.scalars(
                select(Job)
                .where(Job.api_key_id == api_key_id)
                .order_by(Job.created_at.desc())
                .limit(limit)
            ).all()
            return [_view(row) for row in rows]

    # -- transitions ---------------------------------------------------------------------

    def mark_running(self, job_id: str) -> bool:
        """queued → running; False if the job was cancelled (or settled) meanwhile."""
        with self._db.session() as session:
            moved = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued", Job.cancel_requested.is_(False))
                .values(status="running", started_at=datetime.now(UTC))
            )
            return bool(moved.rowcount)  # type: ignore[attr-defined]

    def set_progress(self, job_id: str, progress: float) -> None:
        with self._db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(progress=min(max(progress, 0.0), 1.0))
            )

    def request_cancel(self, job_id: str) -> None:
        with self._db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(OPEN))
                .values(cancel_requested=True)
            )

    def succeed(self, job_id: str, artifacts: list[Artifact], *, note: str) -> bool:
        """running → succeeded, charging the reservation in the same transaction."""
        with self._db.session() as session:
            row = session.get(Job, job_id, with_for_update=True)
            if row is None or row.status != "running":
                return False
            charged = 0
            if row.reservation_id:
                charged = self._billing.commit(row.reservation_id, note=note, session=session)
            row.status = "succeeded"
            row.progress = 1.0
            row.finished_at = datetime.now(UTC)
            row.credits_charged_milli = charged
            row.artifacts = [a.__dict__ for a in artifacts]
            return True

    def fail(
        self, job_id: str, *, status: int, name: str, message: str, cancelled: bool = False
    ) -> bool:
        """queued/running → failed (or cancelled), releasing the reservation with it."""
        with self._db.session() as session:
            row = session.get(Job, job_id, with_for_update=True)
            if row is None or row.status not in OPEN:
                return False
            if row.reservation_id:
                self._billing.release(row.reservation_id, session=session)
            row.status = "cancelled" if cancelled else "failed"
            row.finished_at = datetime.now(UTC)
            row.error_status, row.error_name, row.error_message = status, name, message
            return True

    # -- housekeeping --------------------------------------------------------------------

    def orphans(self, *, host: str, live_owner: str) -> list[str]:
        """Open jobs owned by dead processes on `host` (a killed or crashed server)."""
        with self._db.session() as session:
            rows = session.execute(
                select(Job.id, Job.owner).where(Job.status.in_(OPEN), Job.owner.like(f"{host}:%"))
            ).all()
        return [job_id for job_id, owner in rows if owner != live_owner and not _alive(owner)]

    def expired(self, now: datetime) -> list[str]:
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(Job.id).where(Job.expires_at < now, Job.status.not_in(OPEN))
                ).all()
            )

    def delete(self, job_ids: list[str]) -> None:
        with self._db.session() as session:
            session.execute(delete(Job).where(Job.id.in_(job_ids)))


def _alive(owner: str) -> bool:
    try:
        pid = int(owner.split(":")[1])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _view(row: Job) -> JobView:
    return JobView(
        id=row.id,
        organization_id=row.organization_id,
        api_key_id=row.api_key_id,
        request_id=row.request_id,
        engine_id=row.engine_id,
        kind=row.kind,
        status=row.status,  # type: ignore[arg-type]
        progress=row.progress,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
        credits_reserved_milli=row.credits_reserved_milli,
        credits_charged_milli=row.credits_charged_milli,
        error_status=row.error_status,
        error_name=row.error_name,
        error_message=row.error_message,
        artifacts=[Artifact(**a) for a in row.artifacts or []],
        params_hash=row.params_hash,
        params=row.params,
    )
