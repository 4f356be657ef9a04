"""`JobService.follow` hears every change, even one that lands just after it reads the job.

The store here is a fake that moves its job on (and notifies) at the worst moment:
right after a read has returned, before the follower starts to wait. The notifier
never polls (`poll_seconds` is an hour), so a follower that misses that notification
hangs; the outer bound only keeps such a regression from hanging the suite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from easel.jobs.models import JobStatus, JobView
from easel.jobs.notify import JobNotifier
from easel.jobs.service import JobService
from easel.storage.local import LocalArtifactStore

JOB = "job-1"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
# (status, progress) the job moves through, one step per read
STEPS: list[tuple[JobStatus, float]] = [
    ("queued", 0.0),
    ("running", 0.5),
    ("succeeded", 1.0),
]
HANG_GUARD_SECONDS = 30


class NeverPolls(JobNotifier):
    poll_seconds = 3600.0


def view(status: JobStatus, progress: float) -> JobView:
    return JobView(
        id=JOB,
        organization_id="org",
        api_key_id="key",
        request_id="req",
        engine_id="engine",
        kind="text-to-image",
        status=status,
        progress=progress,
        created_at=NOW,
        started_at=None,
        finished_at=None,
        expires_at=NOW + timedelta(hours=1),
        credits_reserved_milli=0,
        credits_charged_milli=0,
        error_status=None,
        error_name=None,
        error_message=None,
        artifacts=[],
        params_hash="",
        params={},
    )


class AdvancingStore:
    """One job that advances a step (and notifies) right after each read returns."""

    def __init__(self, notify: Callable[[str], None]) -> None:
        self._notify = notify
        self._step = 0

        self.reads: list[str] = []

    def get(self, job_id: str) -> JobView:
        self.reads.append("get")
        return self._advance(job_id)

    def status(self, job_id: str) -> str:
        self.reads.append("status")
        return self._advance(job_id).status

    def _advance(self, job_id: str) -> JobView:
        current = view(*STEPS[self._step])
        if self._step + 1 < len(STEPS):
            self._step += 1  # the worker writes the next state and tells the notifier...
            self._notify(job_id)  # ...after the follower has read, before it waits
        return current


class IdleExecutor:
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(
        self, job_id: str, *, organization_id: str, batch_key: str, open_jobs: int
    ) -> None: ...

    def cancel(self, job_id: str) -> bool:
        return False


def service(store: object, notifier: JobNotifier, tmp_path: object) -> JobService:
    return JobService(
        store=store,  # type: ignore[arg-type]
        artifacts=LocalArtifactStore(tmp_path),  # type: ignore[arg-type]
        executor=IdleExecutor(),
        notifier=notifier,
        owner="test",
        lease=timedelta(seconds=30),
        retention=timedelta(hours=1),
    )


async def test_a_change_between_the_read_and_the_wait_wakes_the_follower(tmp_path) -> None:  # type: ignore[no-untyped-def]
    notifier = NeverPolls()
    jobs = service(AdvancingStore(notifier.notify), notifier, tmp_path)
    seen = []
    with anyio.fail_after(HANG_GUARD_SECONDS):
        async for current in jobs.follow(JOB):
            seen.append((current.status, current.progress))
    assert seen == STEPS
    assert not notifier.has_waiters(JOB)  # the follower's subscription ended with it


async def test_a_change_while_the_caller_holds_a_yielded_view_is_not_lost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    notifier = NeverPolls()
    state = {"view": view("running", 0.25)}

    class Store:
        def get(self, job_id: str) -> JobView:
            return state["view"]

    jobs = service(Store(), notifier, tmp_path)
    seen = []
    with anyio.fail_after(HANG_GUARD_SECONDS):
        async for current in jobs.follow(JOB):
            seen.append(current.progress)
            if not current.done:
                # an SSE watcher is still sending this event when the job finishes
                state["view"] = dataclasses.replace(current, status="succeeded", progress=1.0)
                notifier.notify(JOB)
    assert seen == [0.25, 1.0]


async def test_wait_reads_the_whole_job_after_each_hint_that_may_settle_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    notifier = NeverPolls()
    store = AdvancingStore(notifier.notify)
    jobs = service(store, notifier, tmp_path)
    with anyio.fail_after(HANG_GUARD_SECONDS):
        final = await jobs.wait(JOB)
    assert final.status == "succeeded"
    # each change was heard (none lost between a read and the wait), and each hint that
    # may have settled the job was answered with one read of the whole job
    assert store.reads == ["status", "get", "get"]
    assert not notifier.has_waiters(JOB)


@pytest.mark.parametrize("changes", [1, 3])
async def test_a_subscription_remembers_changes_until_it_waits(changes: int) -> None:
    notifier = NeverPolls()
    with notifier.subscribe(JOB) as changed:
        for _ in range(changes):
            notifier.notify(JOB)
        await anyio.sleep(0)  # notify hands the wake-up to the loop
        with anyio.fail_after(HANG_GUARD_SECONDS):
            assert await changed.wait(notifier.poll_seconds)
        # consumed, however many notifications it gathered: the next wait times out
        assert not await changed.wait(0.01)
    assert not notifier.has_waiters(JOB)


async def test_a_subscription_without_progress_is_woken_only_by_changes_that_may_settle() -> None:
    notifier = NeverPolls()
    assert not notifier.follows_progress
    with (
        notifier.subscribe(JOB, progress=False) as settling,
        notifier.subscribe(JOB) as following,
    ):
        assert notifier.follows_progress
        notifier.notify(JOB, still_open=True)
        await anyio.sleep(0)  # notify hands the wake-up to the loop
        with anyio.fail_after(HANG_GUARD_SECONDS):
            assert await following.wait(notifier.poll_seconds)
        assert not await settling.wait(0.01)
        notifier.notify(JOB)
        await anyio.sleep(0)
        with anyio.fail_after(HANG_GUARD_SECONDS):
            assert await settling.wait(notifier.poll_seconds)
            assert await following.wait(notifier.poll_seconds)
    assert not notifier.follows_progress


async def test_wait_reads_nothing_for_hints_that_the_job_is_still_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    notifier = NeverPolls()
    state = {"view": view("running", 0.0)}
    reads: list[str] = []

    class Store:
        def status(self, job_id: str) -> str:
            reads.append("status")
            return state["view"].status

        def get(self, job_id: str) -> JobView:
            reads.append("get")
            return state["view"]

    jobs = service(Store(), notifier, tmp_path)
    async with anyio.create_task_group() as tasks:
        finished: list[JobView] = []

        async def wait() -> None:
            finished.append(await jobs.wait(JOB))

        tasks.start_soon(wait)
        with anyio.fail_after(HANG_GUARD_SECONDS):
            while not notifier.has_waiters(JOB):
                await anyio.sleep(0)
            for step in range(1, 6):  # the worker's progress hints
                state["view"] = view("running", step / 10)
                notifier.notify(JOB, still_open=True)
                await anyio.sleep(0.01)
            assert reads == ["status"]  # only the first read
            state["view"] = view("succeeded", 1.0)
            notifier.notify(JOB)  # a hint that may have settled it
    assert [v.status for v in finished] == ["succeeded"]
    assert reads == ["status", "get"]  # the settle hint: one read, of the whole job
