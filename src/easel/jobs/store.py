"""JobStore: durable job state. Every transition is one conditional UPDATE.

A job's final state and its credit settlement commit in one transaction, so
a crash can never leave a finished job uncharged or a failed one charged.

Leases: an open job is held by one owner (a worker, named `host:pid:boot`)
until `lease_expires_at`. The owner renews its leases while it works; a
worker's writes (progress, success, failure) only land while it still
holds the job, so a worker that lost its lease can neither overwrite the
job's state nor charge for it. Recovery acts only on expired leases, so it
never depends on which process created a job or whether a PID was reused.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, case, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from easel.billing.service import HELD_RESERVATION, BillingService
from easel.db.engine import Database
from easel.db.ids import new_id
from easel.db.models import Job
from easel.jobs.models import Artifact, JobView

OPEN = ("queued", "running")
# a job row as plain columns: reads and RETURNING on a Core connection, without the ORM
JOB_COLUMNS = tuple(Job.__table__.columns)
# the failure message of a job whose worker died or stopped renewing its lease
WORKER_STOPPED = "The worker running the generation stopped before it finished."

# The statements on every job's path, built once with bound parameters: building one
# per call (coercing each value, computing its cache key) cost more than running it,
# 1.4 ms of a 2.9 ms settle here. Their bound parameters are filled in at execution.
_OPEN_COUNT = (
    select(func.count())
    .select_from(Job)
    .where(Job.organization_id == bindparam("org_id"), Job.status.in_(OPEN))
)
# the organization's open jobs as a new one goes in, without it: in `RETURNING`, a
# subquery sees the table as the statement found it (PostgreSQL), so the count costs
# no round trip of its own
_OTHER_JOBS = Job.__table__.alias("others")
_OTHERS_OPEN = (
    select(func.count())
    .select_from(_OTHER_JOBS)
    .where(
        _OTHER_JOBS.c.organization_id == bindparam("new_organization_id"),
        _OTHER_JOBS.c.status.in_(OPEN),
    )
    .scalar_subquery()
    .label("others_open")
)
_INSERT = insert(Job).returning(*JOB_COLUMNS)
# On PostgreSQL, the job and its reservation in one statement (one round trip where a
# transaction made five): the job goes in only if its credits could be held. Its values
# are `_INSERT`'s parameters prefixed `new_`: every column but those a new job leaves NULL.
_LEFT_NULL = {"started_at", "finished_at", "error_status", "error_name", "error_message"}
_CREATED_COLUMNS = [column for column in JOB_COLUMNS if column.key not in _LEFT_NULL]
_INSERT_HELD = (
    insert(Job)
    .from_select(
        [column.key for column in _CREATED_COLUMNS],
        select(
            *(cast(bindparam(f"new_{c.key}", type_=c.type), c.type) for c in _CREATED_COLUMNS)
        ).select_from(HELD_RESERVATION),
    )
    .returning(*JOB_COLUMNS, _OTHERS_OPEN)
)
_GET = select(*JOB_COLUMNS).where(Job.id == bindparam("job_id"))
_STATUS = select(Job.status).where(Job.id == bindparam("job_id"))
# every poll of a result and every idempotent retry: by id or by idempotency key
_FOR_KEY = select(*JOB_COLUMNS).where(
    Job.api_key_id == bindparam("api_key_id"),
    (Job.id == bindparam("ref")) | (Job.idempotency_key == bindparam("ref")),
)
_HAND_OVER = (
    update(Job)
    .where(
        Job.id.in_(bindparam("job_ids", expanding=True)),
        Job.status == "queued",
        Job.owner == bindparam("holder"),
    )
    .values(owner=bindparam("to"))
)
_MARK_RUNNING = (
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.status == "queued", Job.cancel_requested.is_(False))
    .values(
        status="running",
        started_at=bindparam("now"),
        owner=bindparam("holder"),
        lease_expires_at=bindparam("lease_until"),
    )
    .returning(*JOB_COLUMNS)
)
_TO_KEEP = select(Job.id).where(
    Job.id.in_(bindparam("job_ids", expanding=True)),
    Job.status == "running",
    Job.owner == bindparam("holder"),
    Job.cancel_requested.is_(False),
)
_SET_PROGRESS = (
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.status == "running", Job.owner == bindparam("holder"))
    .values(progress=bindparam("value"))
)
# running → succeeded, if `owner` still holds the job and no cancel was asked for,
# RETURNING the reservation to charge (see `succeed`)
_SUCCEED = (
    update(Job)
    .where(
        Job.id == bindparam("job_id"),
        Job.status == "running",
        Job.owner == bindparam("holder"),
        Job.cancel_requested.is_(False),
    )
    .values(
        status="succeeded",
        progress=1.0,
        finished_at=bindparam("finished"),
        # what its reservation holds, which `create` made of the job's own price
        credits_charged_milli=case(
            (Job.reservation_id.is_(None), 0), else_=Job.credits_reserved_milli
        ),
        artifacts=bindparam("outputs", type_=Job.artifacts.type),
    )
    .returning(Job.reservation_id)
)


def process_owner() -> str:
    """A lease owner name unique to this process's life: `host:pid:boot`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class IdempotencyClash(Exception):
    """Another job already holds this API key's idempotency key."""


@dataclass(frozen=True)
class NewJob:
    """Everything a job row starts with."""

    job_id: str
    organization_id: str
    user_id: str
    api_key_id: str
    request_id: str
    idempotency_key: str | None
    engine_id: str
    kind: str
    params_hash: str
    params: dict[str, Any]
    cost_milli: int
    owner: str
    lease: timedelta
    retention: timedelta


class CreatedJob(NamedTuple):
    view: JobView
    # the organization's queued and running jobs, this one included, as it went in
    # (what fair dispatch ranks it by)
    open_jobs: int


class JobStore:
    def __init__(self, db: Database, billing: BillingService) -> None:
        self._db = db
        self._billing = billing

    def create(self, job: NewJob) -> CreatedJob:
        """Insert the job and reserve its credits, together or not at all.

        On PostgreSQL one statement holds the credits and inserts the job (only if
        they were held); elsewhere one transaction inserts the row, naming the
        reservation that follows it. Either way a concurrent retry with the same
        idempotency key clashes (`IdempotencyClash`) and a 402 leaves no row behind.
        """
        now = datetime.now(UTC)
        reservation_id = new_id("res")
        values: dict[str, Any] = {
            "id": job.job_id,
            "organization_id": job.organization_id,
            "user_id": job.user_id,
            "api_key_id": job.api_key_id,
            "request_id": job.request_id,
            "idempotency_key": job.idempotency_key,
            "engine_id": job.engine_id,
            "kind": job.kind,
            "params_hash": job.params_hash,
            "params": job.params,
            "status": "queued",
            "progress": 0.0,
            "cancel_requested": False,
            "owner": job.owner,
            "lease_expires_at": now + job.lease,
            "reservation_id": reservation_id,
            "credits_reserved_milli": job.cost_milli,
            "credits_charged_milli": 0,
            "created_at": now,
            "expires_at": now + job.retention,
            "artifacts": [],
        }
        try:
            if self._db.engine.dialect.name == "postgresql":
                return self._create_held(job, values)
            with self._db.connection() as connection:
                row = connection.execute(_INSERT, values).one()
                self._billing.reserve(
                    job.organization_id,
                    job.cost_milli,
                    request_id=job.request_id,
                    reservation_id=reservation_id,
                    connection=connection,
                )
                open_jobs = connection.scalar(_OPEN_COUNT, {"org_id": job.organization_id})
                return CreatedJob(_view(row), int(open_jobs or 0))
        except IntegrityError as exc:
            raise IdempotencyClash(job.idempotency_key) from exc

    def _create_held(self, job: NewJob, values: dict[str, Any]) -> CreatedJob:
        held = self._billing.held_reservation(
            job.organization_id,
            job.cost_milli,
            reservation_id=values["reservation_id"],
            request_id=job.request_id,
        )
        with self._db.statement() as connection:
            row = connection.execute(
                _INSERT_HELD, held | {f"new_{key}": value for key, value in values.items()}
            ).first()
            if row is None:
                raise self._billing.insufficient(connection, job.organization_id, job.cost_milli)
            return CreatedJob(_view(row), row.others_open + 1)

    def get(self, job_id: str) -> JobView | None:
        with self._db.statement() as connection:
            row = connection.execute(_GET, {"job_id": job_id}).first()
            return _view(row) if row is not None else None

    def status(self, job_id: str) -> str | None:
        """The job's status alone (None: no such job), for waiters that need only that."""
        with self._db.statement() as connection:
            return connection.scalar(_STATUS, {"job_id": job_id})

    def find_for_key(self, api_key_id: str, ref: str) -> JobView | None:
        """A job of this API key by id or by its idempotency key; never another key's."""
        with self._db.statement() as connection:
            row = connection.execute(_FOR_KEY, {"api_key_id": api_key_id, "ref": ref}).first()
            return _view(row) if row is not None else None

    def hand_over(self, job_ids: Iterable[str], *, owner: str, to: str) -> None:
        """Queued jobs' holder passes them on (to a broker), those it still holds.

        If it never lands (a crash), a job is published a second time, which is
        harmless (only one worker can mark it running)."""
        with self._db.statement() as connection:
            connection.execute(_HAND_OVER, {"job_ids": list(job_ids), "holder": owner, "to": to})

    def queued_not_held_by(
        self, holder: str, created_before: datetime
    ) -> list[tuple[str, str, str]]:
        """(id, organization, owner) of queued jobs created before then, never passed to
        `holder`."""
        with self._db.session() as session:
            rows = session.execute(
                select(Job.id, Job.organization_id, Job.owner).where(
                    Job.status == "queued", Job.owner != holder, Job.created_at < created_before
                )
            ).all()
            return [(row[0], row[1], row[2] or "") for row in rows]

    def open_count(self, organization_id: str) -> int:
        """How many of the organization's jobs are queued or running (for fair dispatch)."""
        with self._db.statement() as connection:
            return int(connection.scalar(_OPEN_COUNT, {"org_id": organization_id}) or 0)

    def recent_for_key(self, api_key_id: str, *, limit: int = 50, offset: int = 0) -> list[JobView]:
        with self._db.statement() as connection:
            rows = connection.execute(
                select(*JOB_COLUMNS)
                .where(Job.api_key_id == api_key_id)
                # the id breaks ties between jobs created in the same instant: pages never overlap
                .order_by(Job.created_at.desc(), Job.id)
                .offset(offset)
                .limit(limit)
            ).all()
            return [_view(row) for row in rows]

    # -- transitions (a worker's writes hold while its lease does) -----------------------

    def mark_running(self, job_id: str, *, owner: str, lease: timedelta) -> JobView | None:
        """queued → running under `owner`'s lease: the job as it now is, or None if it
        was cancelled or taken meanwhile."""
        now = datetime.now(UTC)
        with self._db.statement() as connection:
            row = connection.execute(
                _MARK_RUNNING,
                {"job_id": job_id, "now": now, "holder": owner, "lease_until": now + lease},
            ).first()
            return _view(row) if row is not None else None

    def renew_leases(self, owner: str, lease: timedelta) -> int:
        """Extend every open job `owner` holds; returns how many it still holds."""
        with self._db.statement() as connection:
            renewed = connection.execute(
                update(Job)
                .where(Job.owner == owner, Job.status.in_(OPEN))
                .values(lease_expires_at=datetime.now(UTC) + lease)
            )
            return renewed.rowcount

    def set_progress(self, job_id: str, progress: float, *, owner: str) -> None:
        # a hint: written off the engine's thread (see `easel.jobs.progress`)
        with self._db.statement() as connection:
            connection.execute(
                _SET_PROGRESS,
                {"job_id": job_id, "holder": owner, "value": min(max(progress, 0.0), 1.0)},
            )

    def to_stop(self, job_ids: Iterable[str], *, owner: str) -> set[str]:
        """Those of `job_ids` that `owner` should stop: cancelled, settled, or taken away."""
        ids = list(job_ids)
        with self._db.statement() as connection:
            keep = connection.scalars(_TO_KEEP, {"job_ids": ids, "holder": owner}).all()
        return set(ids) - set(keep)

    def request_cancel(self, job_id: str) -> None:
        with self._db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(OPEN))
                .values(cancel_requested=True)
            )

    def succeed(self, job_id: str, artifacts: list[Artifact], *, note: str, owner: str) -> bool:
        """running → succeeded, charging the reservation in the same transaction.

        Only `owner`, while it holds the job, can do this: a worker whose lease
        expired (and whose job recovery settled) charges nothing. Nor does a job
        whose cancel was requested: False, and the runner cancels it. The job's own
        UPDATE checks all that and takes its row lock; billing charges the
        reservation it names (on PostgreSQL in the same statement).
        """
        claim = {
            "job_id": job_id,
            "holder": owner,
            "finished": datetime.now(UTC),
            "outputs": [a.__dict__ for a in artifacts],
        }
        with self._db.connection() as connection:
            return self._billing.commit_claimed(connection, _SUCCEED, claim, note=note) is not None

    def fail(
        self,
        job_id: str,
        *,
        status: int,
        name: str,
        message: str,
        cancelled: bool = False,
        owner: str | None = None,
        expired_before: datetime | None = None,
    ) -> bool:
        """queued/running → failed (or cancelled), releasing the reservation with it.

        `owner`: only while that worker holds the job. `expired_before`: only if
        the job's lease expired before then (recovery).
        """
        with self._db.session() as session:
            row = session.get(Job, job_id, with_for_update=True)
            if row is None or row.status not in OPEN:
                return False
            if owner is not None and row.owner != owner:
                return False
            if expired_before is not None and not _expired(row, expired_before):
                return False
            if row.reservation_id:
                self._billing.release(row.reservation_id, connection=session.connection())
            row.status = "cancelled" if cancelled else "failed"
            row.finished_at = datetime.now(UTC)
            row.error_status, row.error_name, row.error_message = status, name, message
            return True

    # -- housekeeping --------------------------------------------------------------------

    def expired_leases(self, now: datetime) -> list[str]:
        """Open jobs whose holder stopped renewing (died, hung, or lost its host)."""
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(Job.id).where(
                        Job.status.in_(OPEN),
                        or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now),
                    )
                ).all()
            )

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


def _expired(row: Job, now: datetime) -> bool:
    return row.lease_expires_at is None or row.lease_expires_at < now


def _view(row: Job | Row[Any]) -> JobView:
    """A job row, mapped (ORM) or plain (a Core select or `RETURNING`), as callers see it."""
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
