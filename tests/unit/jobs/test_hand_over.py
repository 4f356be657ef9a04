"""The celery executor records published jobs as the broker's in batches, off the
request path (`HandOvers`): what `requeue_orphans` reads to find jobs whose API
process died before publishing them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from easel.db.engine import Database
from easel.db.models import Job
from easel.jobs.executors.celery import BROKER, HandOvers
from easel.jobs.store import JobStore

from .test_store import new_job

API = "api:1:test"


def owner(database: Database, job_id: str) -> str | None:
    with database.statement() as connection:
        return connection.scalar(select(Job.owner).where(Job.id == job_id))


def orphans(store: JobStore) -> list[str]:
    """The queued jobs `requeue_orphans` would publish again (ignoring their age)."""
    later = datetime.now(UTC) + timedelta(hours=1)
    return sorted(job_id for job_id, _, _ in store.queued_not_held_by(BROKER, later))


def test_a_flush_hands_every_published_job_to_the_broker_in_one_go(
    store: JobStore, org: str
) -> None:
    first, second = (store.create(new_job(org, c * 64)).view.id for c in "ab")
    hand_overs = HandOvers(store, owner=API)
    hand_overs.add(first)
    hand_overs.add(second)
    assert orphans(store) == [first, second]  # nothing written yet: the request did not wait
    assert hand_overs.flush() == 2
    assert orphans(store) == []
    assert hand_overs.flush() == 0


def test_a_job_a_worker_already_took_keeps_its_worker(
    store: JobStore, database: Database, org: str
) -> None:
    job_id = store.create(new_job(org)).view.id
    hand_overs = HandOvers(store, owner=API)
    hand_overs.add(job_id)
    assert store.mark_running(job_id, owner="worker:2:test", lease=timedelta(minutes=1))
    hand_overs.flush()
    assert owner(database, job_id) == "worker:2:test"


def test_a_refused_flush_keeps_its_jobs_for_the_next(
    store: JobStore, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = store.create(new_job(org)).view.id
    hand_overs = HandOvers(store, owner=API)
    hand_overs.add(job_id)

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(store, "hand_over", refuse)
        with pytest.raises(ConnectionError):
            hand_overs.flush()
    assert hand_overs.waiting() == 1
    assert orphans(store) == [job_id]
    assert hand_overs.flush() == 1
    assert orphans(store) == []
