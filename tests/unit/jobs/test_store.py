"""Creating and settling a job with its credits, on SQLite here and on PostgreSQL in
`tests/integration/postgres/test_job_store.py`: PostgreSQL creates a job and its
reservation in one statement and settles it in another, SQLite in a transaction of
several, and both must leave the same rows behind."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from easel.accounts.service import AccountsService
from easel.billing.service import BillingService
from easel.db.engine import Database
from easel.db.models import CreditReservation, Job
from easel.errors import PaymentRequired
from easel.jobs.models import Artifact
from easel.jobs.store import IdempotencyClash, JobStore, NewJob

PRICE_MILLI = 2_500


def new_job(org: str, job_id: str = "a" * 64, key: str | None = None) -> NewJob:
    return NewJob(
        job_id=job_id,
        organization_id=org,
        user_id="user",
        api_key_id="key",
        request_id=f"req-{job_id[:4]}",
        idempotency_key=key,
        engine_id="engine",
        kind="text-to-image",
        params_hash="h",
        params={"prompt": "a lighthouse", "seeds": [7]},
        cost_milli=PRICE_MILLI,
        owner="api:1:test",
        lease=timedelta(minutes=1),
        retention=timedelta(hours=1),
    )


def reservations(database: Database) -> list[tuple[str, str, int, str | None]]:
    with database.statement() as connection:
        rows = connection.execute(
            select(
                CreditReservation.id,
                CreditReservation.status,
                CreditReservation.amount_milli,
                CreditReservation.request_id,
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def job_count(database: Database) -> int:
    with database.statement() as connection:
        return len(connection.scalars(select(Job.id)).all())


def test_a_created_job_holds_its_price_in_the_reservation_it_names(
    store: JobStore, billing: BillingService, database: Database, org: str
) -> None:
    view = store.create(new_job(org)).view
    assert (view.status, view.progress, view.artifacts) == ("queued", 0.0, [])
    assert (view.credits_reserved_milli, view.credits_charged_milli) == (PRICE_MILLI, 0)
    assert view.params == {"prompt": "a lighthouse", "seeds": [7]}
    assert view.expires_at - view.created_at == timedelta(hours=1)
    assert store.get(view.id) == view
    ((reservation_id, status, amount, request_id),) = reservations(database)
    with database.statement() as connection:
        named = connection.scalar(select(Job.reservation_id).where(Job.id == view.id))
    assert (named, status, amount, request_id) == (reservation_id, "held", PRICE_MILLI, "req-aaaa")
    assert billing.available_credits(org) == 7.5


def test_a_created_job_counts_its_organizations_open_jobs_itself_included(
    store: JobStore, accounts: AccountsService, billing: BillingService, org: str
) -> None:
    assert store.create(new_job(org, "a" * 64)).open_jobs == 1
    assert store.create(new_job(org, "b" * 64)).open_jobs == 2
    store.mark_running("a" * 64, owner="worker", lease=timedelta(minutes=1))
    assert store.create(new_job(org, "c" * 64)).open_jobs == 3  # running is open
    store.fail("a" * 64, status=500, name="boom", message="boom", owner="worker")
    assert store.create(new_job(org, "d" * 64)).open_jobs == 3  # a settled job is not
    other = accounts.create_organization("Other org")
    billing.grant(other, 10_000)
    assert store.create(new_job(other, "e" * 64)).open_jobs == 1


def test_a_job_the_organization_cannot_pay_for_leaves_no_row_and_holds_nothing(
    store: JobStore, billing: BillingService, database: Database, org: str
) -> None:
    costly = replace(new_job(org), cost_milli=10_001)
    with pytest.raises(PaymentRequired, match="costs 10.001 credits .* has 10 available"):
        store.create(costly)
    assert (job_count(database), reservations(database)) == (0, [])
    assert billing.available_credits(org) == 10


def test_a_second_job_with_the_same_key_clashes_and_holds_nothing(
    store: JobStore, billing: BillingService, database: Database, org: str
) -> None:
    store.create(new_job(org, key="once"))
    with pytest.raises(IdempotencyClash):
        store.create(new_job(org, job_id="b" * 64, key="once"))
    assert job_count(database) == 1
    assert len(reservations(database)) == 1
    assert billing.available_credits(org) == 7.5


def test_a_succeeded_job_is_charged_its_reservation_once(
    store: JobStore, billing: BillingService, database: Database, org: str
) -> None:
    view = store.create(new_job(org)).view
    assert store.mark_running(view.id, owner="worker", lease=timedelta(minutes=1)) is not None
    output = Artifact(key=f"jobs/{view.id}/out/0.png", seed=7, finish_reason="SUCCESS")
    assert store.succeed(view.id, [output], note="a job", owner="worker")
    assert not store.succeed(view.id, [output], note="a job", owner="worker")  # settled
    done = store.get(view.id)
    assert done is not None
    assert (done.status, done.progress, done.artifacts) == ("succeeded", 1.0, [output])
    assert done.credits_charged_milli == PRICE_MILLI
    assert [r[1] for r in reservations(database)] == ["committed"]
    assert billing.available_credits(org) == 7.5
    assert [(e.kind, e.credits, e.note) for e in billing.ledger(org)][0] == (
        "charge",
        -2.5,
        "a job",
    )


def test_a_worker_that_does_not_hold_the_job_charges_nothing(
    store: JobStore, billing: BillingService, database: Database, org: str
) -> None:
    view = store.create(new_job(org)).view
    store.mark_running(view.id, owner="worker", lease=timedelta(minutes=1))
    assert not store.succeed(view.id, [], note="a job", owner="another worker")
    assert [r[1] for r in reservations(database)] == ["held"]
    assert billing.available_credits(org) == 7.5  # still held, not charged
