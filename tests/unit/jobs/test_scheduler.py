"""The fair scheduler: round-robin across organizations, limits, bounds, batching."""

from __future__ import annotations

import threading

import pytest

from easel.errors import Overloaded, RateLimited
from easel.jobs.scheduler import FairScheduler, QueuedJob, SchedulerLimits


def job(job_id: str, org: str, key: str = "k") -> QueuedJob:
    return QueuedJob(job_id=job_id, organization_id=org, batch_key=key)


def ids(batch: list[QueuedJob] | None) -> list[str]:
    assert batch is not None
    return [j.job_id for j in batch]


def test_a_big_batch_cannot_starve_a_single_request() -> None:
    scheduler = FairScheduler(SchedulerLimits(max_running_per_org=1000, max_queued_per_org=1000))
    for i in range(500):
        scheduler.put(job(f"a{i}", "org-a"))
    scheduler.put(job("b0", "org-b"))
    first = ids(scheduler.take(timeout=0))
    second = ids(scheduler.take(timeout=0))
    assert first == ["a0"] and second == ["b0"]
    assert ids(scheduler.take(timeout=0)) == ["a1"]


def test_round_robin_over_three_orgs() -> None:
    scheduler = FairScheduler(SchedulerLimits(max_running_per_org=10))
    for org in "abc":
        for i in range(3):
            scheduler.put(job(f"{org}{i}", org))
    order = [ids(scheduler.take(timeout=0))[0] for _ in range(9)]
    assert order == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_per_org_running_limit_holds_until_done() -> None:
    scheduler = FairScheduler(SchedulerLimits(max_running_per_org=2))
    for i in range(4):
        scheduler.put(job(f"a{i}", "org-a"))
    first, second = scheduler.take(timeout=0), scheduler.take(timeout=0)
    assert scheduler.take(timeout=0) is None  # both slots busy
    assert first is not None and second is not None
    scheduler.done(first)
    assert ids(scheduler.take(timeout=0)) == ["a2"]


def test_queue_bounds() -> None:
    scheduler = FairScheduler(SchedulerLimits(max_queued=3, max_queued_per_org=2))
    scheduler.put(job("a0", "a"))
    scheduler.put(job("a1", "a"))
    with pytest.raises(RateLimited) as per_org:
        scheduler.put(job("a2", "a"))
    assert per_org.value.status == 429
    scheduler.put(job("b0", "b"))
    with pytest.raises(Overloaded) as full:
        scheduler.put(job("c0", "c"))
    assert full.value.status == 503 and full.value.retry_after > 0
    assert scheduler.queued == 3


def test_compatible_jobs_are_batched_across_orgs_up_to_the_limit() -> None:
    scheduler = FairScheduler(SchedulerLimits(max_batch_size=3, max_running_per_org=10))
    scheduler.put(job("a0", "a", "512-steps20"))
    scheduler.put(job("a1", "a", "768-steps20"))
    scheduler.put(job("a2", "a", "512-steps20"))
    scheduler.put(job("b0", "b", "512-steps20"))
    scheduler.put(job("b1", "b", "512-steps20"))
    assert ids(scheduler.take(timeout=0)) == ["a0", "a2", "b0"]
    assert ids(scheduler.take(timeout=0)) == ["b1"]  # b's turn; nothing else matches
    assert ids(scheduler.take(timeout=0)) == ["a1"]


def test_batches_respect_the_running_limit() -> None:
    scheduler = FairScheduler(SchedulerLimits(max_batch_size=8, max_running_per_org=2))
    for i in range(5):
        scheduler.put(job(f"a{i}", "a"))
    assert ids(scheduler.take(timeout=0)) == ["a0", "a1"]
    assert scheduler.running == 2


def test_remove_and_close() -> None:
    scheduler = FairScheduler(SchedulerLimits())
    scheduler.put(job("a0", "a"))
    scheduler.put(job("a1", "a"))
    removed = scheduler.remove("a0")
    assert removed is not None and removed.job_id == "a0"
    assert scheduler.remove("a0") is None
    assert [j.job_id for j in scheduler.close()] == ["a1"]
    assert scheduler.take(timeout=0) is None
    with pytest.raises(Overloaded):
        scheduler.put(job("a2", "a"))


def test_take_blocks_until_work_arrives() -> None:
    scheduler = FairScheduler(SchedulerLimits())
    got: list[list[QueuedJob] | None] = []
    worker = threading.Thread(target=lambda: got.append(scheduler.take(timeout=5)))
    worker.start()
    scheduler.put(job("a0", "a"))
    worker.join(5)
    assert ids(got[0]) == ["a0"]


def test_cancel_takes_a_queued_job_out_and_sets_its_event() -> None:
    scheduler = FairScheduler(SchedulerLimits())
    queued = job("a", "org")
    scheduler.put(queued)
    assert scheduler.cancel("a") is True
    assert queued.cancel.is_set() and scheduler.queued == 0
    assert scheduler.cancel("a") is False
