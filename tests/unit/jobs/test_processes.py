"""The local executor's logic over a real pipe, with workers played by threads.

Each fake worker runs the real `WorkerLoop` in a thread on its end of a
`multiprocessing` pipe, with a runner that records what it was given and
holds a job until the test lets it go. `kill()` plays a crash: the worker's
end of the pipe closes, as when the kernel reaps a killed process.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from easel.jobs.executors.channel import Channel
from easel.jobs.executors.processes import ProcessExecutor
from easel.jobs.scheduler import FairScheduler, SchedulerLimits
from easel.jobs.store import WORKER_STOPPED
from easel.jobs.worker import WorkerLoop

WAIT = 10.0  # a safety net for a broken test, never a synchronisation


def wait(event: threading.Event) -> None:
    assert event.wait(WAIT), "timed out"


def eventually(check: Callable[[], bool]) -> None:
    """Wait until `check()` holds (the supervisor thread acts on its own schedule)."""
    deadline = threading.Event()
    timer = threading.Timer(WAIT, deadline.set)
    timer.start()
    try:
        while not check():
            assert not deadline.wait(0.005), "timed out"
    finally:
        timer.cancel()


@dataclass
class FakeView:
    status: str


@dataclass
class FakeStore:
    """Job states: queued until a runner starts them under its owner."""

    status: dict[str, str] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, job_id: str, owner: str) -> None:
        with self.lock:
            self.status[job_id], self.owner[job_id] = "running", owner

    def get(self, job_id: str) -> FakeView | None:
        with self.lock:
            return FakeView(self.status.get(job_id, "queued"))

    def fail(self, job_id: str, *, status: int, name: str, message: str, **kw: Any) -> bool:
        owner = kw.get("owner")
        with self.lock:
            if self.status.get(job_id, "queued") not in ("queued", "running"):
                return False
            if owner is not None and self.owner.get(job_id) != owner:
                return False
            self.status[job_id] = "failed"
            self.failures.append((job_id, message, owner))
            return True


class FakeLeases:
    def start(self) -> None: ...

    def stop(self) -> None: ...


class FakeRunner:
    """Starts each job (like `mark_running`), then holds it until released or cancelled."""

    def __init__(self, store: FakeStore, owner: str, hold: set[str]) -> None:
        self.owner = owner
        self._store = store
        self._hold = hold
        self.notify: Any = None
        self.ran: list[list[str]] = []
        self.running = threading.Event()
        self.release = threading.Event()
        self.cancelled: list[str] = []
        self.cancel_seen = threading.Event()

    def run(self, job_ids: Sequence[str], cancel: Mapping[str, threading.Event]) -> None:
        self.ran.append(list(job_ids))
        for job_id in job_ids:
            self._store.start(job_id, self.owner)
            self.notify(job_id)
        if self._hold & set(job_ids):
            self.running.set()
            while not self.release.wait(0.01):
                if stopped := [job_id for job_id, event in cancel.items() if event.is_set()]:
                    self.cancelled += stopped
                    self.cancel_seen.set()
                    break
        with self._store.lock:
            for job_id in job_ids:
                if self._store.status[job_id] == "running":
                    self._store.status[job_id] = "succeeded"

    def flush(self) -> None:
        """Writes nothing in the background."""


class ThreadWorker:
    """A `WorkerHandle` whose worker is a thread running the real `WorkerLoop`."""

    def __init__(
        self, store: FakeStore, number: int, hold: set[str], not_ready: list[str | None]
    ) -> None:
        ours, theirs = multiprocessing.get_context("spawn").Pipe(duplex=True)
        self._theirs = theirs
        self.channel = Channel(ours)
        self.runner = FakeRunner(store, f"host:{1000 + number}:boot", hold)
        self.preloaded = threading.Event()
        self.orphaned = threading.Event()
        self.loop = WorkerLoop(
            Channel(theirs),
            self.runner,  # type: ignore[arg-type]
            store,  # type: ignore[arg-type]
            FakeLeases(),  # type: ignore[arg-type]
            preload=self._preload,
            not_ready=lambda: not_ready[0],
            orphaned=self.orphaned.set,
        )
        self.runner.notify = self.loop.job_changed
        self._dead = False
        self.thread = threading.Thread(target=self.loop.serve, daemon=True)
        self.thread.start()

    def _preload(self) -> threading.Thread:
        thread = threading.Thread(target=self.preloaded.wait, daemon=True)
        thread.start()
        return thread

    @property
    def exitcode(self) -> int | None:
        return -9 if self._dead else (None if self.thread.is_alive() else 0)

    def is_alive(self) -> bool:
        return not self._dead and self.thread.is_alive()

    def join(self, timeout: float) -> None:
        if not self._dead:
            self.thread.join(timeout)

    def kill(self) -> None:
        # as when the kernel reaps a killed process: the API side reads end of file
        self._dead = True
        end = socket.socket(fileno=os.dup(self._theirs.fileno()))
        end.shutdown(socket.SHUT_RDWR)
        end.close()


@dataclass
class Rig:
    executor: ProcessExecutor
    store: FakeStore
    workers: list[ThreadWorker]
    notified: list[str]
    started: threading.Semaphore
    hold: set[str]
    not_ready: list[str | None]

    def next_worker(self) -> ThreadWorker:
        assert self.started.acquire(timeout=WAIT), "no worker started"
        return self.workers[-1]


@pytest.fixture
async def rig() -> Iterator[Rig]:  # type: ignore[misc]
    store = FakeStore()
    workers: list[ThreadWorker] = []
    notified: list[str] = []
    started = threading.Semaphore(0)
    hold: set[str] = set()
    not_ready: list[str | None] = ["loading engines: sd"]  # until the test sets it

    def start_worker(device: str) -> ThreadWorker:
        worker = ThreadWorker(store, len(workers), hold, not_ready)
        workers.append(worker)
        started.release()
        return worker

    executor = ProcessExecutor(
        FairScheduler(SchedulerLimits(max_running_per_org=1)),
        store,  # type: ignore[arg-type]
        FakeLeases(),  # type: ignore[arg-type]
        devices=["cpu"],
        start_worker=start_worker,
        notify=lambda job_id, *, still_open=False: notified.append(job_id),
        idle_check=0.01,
        restart_delay=0.01,
    )
    await executor.start()
    yield Rig(executor, store, workers, notified, started, hold, not_ready)
    for worker in workers:
        worker.runner.release.set()
        worker.preloaded.set()
    await executor.stop()


def submit(rig: Rig, job_id: str, org: str = "org") -> None:
    rig.executor.submit(job_id, organization_id=org, batch_key="k", open_jobs=1)


async def test_a_batch_runs_in_the_worker_and_its_changes_wake_waiters(rig: Rig) -> None:
    worker = rig.next_worker()
    rig.hold.add("a")
    submit(rig, "a")
    submit(rig, "b")  # the organization may run one job at a time: b waits for a's batch
    wait(worker.runner.running)
    assert rig.executor.scheduler.running == 1
    assert worker.runner.ran == [["a"]]
    worker.runner.release.set()
    eventually(lambda: rig.store.status.get("b") == "succeeded")
    assert worker.runner.ran == [["a"], ["b"]]
    # forwarded from the worker's runner, over the pipe: they may trail the store's change
    eventually(lambda: "b" in rig.notified)
    assert rig.notified.index("a") < rig.notified.index("b")
    assert rig.store.status["a"] == "succeeded"
    eventually(lambda: rig.executor.scheduler.running == 0)


async def test_cancel_reaches_the_job_running_in_the_worker(rig: Rig) -> None:
    worker = rig.next_worker()
    rig.hold.add("a")
    submit(rig, "a")
    wait(worker.runner.running)
    assert rig.executor.cancel("a") is True
    wait(worker.runner.cancel_seen)
    assert worker.runner.cancelled == ["a"]
    assert rig.executor.cancel("unknown") is False


async def test_a_queued_job_is_cancelled_in_the_queue(rig: Rig) -> None:
    worker = rig.next_worker()
    rig.hold.add("a")
    submit(rig, "a")
    wait(worker.runner.running)
    submit(rig, "b")  # waits: one running job per organization
    assert rig.executor.cancel("b") is True
    assert rig.executor.scheduler.queued == 0


async def test_a_dead_worker_is_replaced_its_started_job_failed_and_unstarted_requeued(
    rig: Rig,
) -> None:
    first = rig.next_worker()
    rig.hold.add("a")
    submit(rig, "a")
    wait(first.runner.running)
    first.kill()

    second = rig.next_worker()
    assert second is not first
    # the started job: failed under the dead worker's lease, its waiters woken
    assert rig.store.failures == [("a", WORKER_STOPPED, first.runner.owner)]
    assert "a" in rig.notified
    assert rig.executor.restarts == 1
    # the organization's running slot was released: its next job runs on the new worker
    rig.hold.add("b")
    submit(rig, "b")
    wait(second.runner.running)
    assert second.runner.ran == [["b"]]


async def test_a_job_the_dead_worker_never_started_runs_on_the_next_one(rig: Rig) -> None:
    first = rig.next_worker()
    first.kill()  # dead before it takes anything; the executor only finds out on send
    rig.hold.add("a")
    submit(rig, "a")
    second = rig.next_worker()
    wait(second.runner.running)
    assert second.runner.ran == [["a"]]
    assert rig.store.failures == []


async def test_readiness_comes_from_the_workers(rig: Rig) -> None:
    worker = rig.next_worker()
    # the fake worker preloads until `preloaded` is set
    eventually(lambda: rig.executor.not_ready() == "worker cpu: loading engines: sd")
    rig.not_ready[0] = None
    worker.preloaded.set()
    eventually(lambda: rig.executor.not_ready() is None)


async def test_stop_fails_queued_jobs_and_cancels_the_running_one(rig: Rig) -> None:
    worker = rig.next_worker()
    rig.hold.add("a")
    submit(rig, "a")
    wait(worker.runner.running)
    submit(rig, "b")
    await rig.executor.stop()
    assert worker.runner.cancelled == ["a"]
    assert [f[0] for f in rig.store.failures] == ["b"]
    assert rig.executor.not_ready() == "worker cpu: stopped"


def test_workers_not_yet_started_are_not_ready() -> None:
    executor = ProcessExecutor(
        FairScheduler(SchedulerLimits()),
        FakeStore(),  # type: ignore[arg-type]
        FakeLeases(),  # type: ignore[arg-type]
        devices=["cuda:0", "cuda:0"],
        start_worker=lambda device: None,  # type: ignore[arg-type,return-value]
        notify=lambda job_id, *, still_open=False: None,
    )
    assert executor.not_ready() == "worker cuda:0#1: starting; worker cuda:0#2: starting"


def test_a_worker_whose_api_process_is_gone_stops() -> None:
    store = FakeStore()
    worker = ThreadWorker(store, 0, set(), [None])
    assert worker.channel.recv().owner == worker.runner.owner  # type: ignore[union-attr]
    worker.channel.close()  # the API process died
    worker.thread.join(WAIT)
    assert worker.orphaned.is_set()
    assert not worker.thread.is_alive()
