"""The local executor: the API process keeps the queue, worker processes run the generations.

Generation is kept out of the API's interpreter: at the sizes easel serves,
a diffusion step is bound by Python launching kernels, so every other
thread of the API process (event loop, database, progress) slowed it down
(measured +45 % through `easel serve` on an H200). The API process keeps
the `FairScheduler` (fairness across organizations, batching); one worker
process per device takes one batch of job ids at a time over its channel
(see `channel.py`), runs it with the same `JobRunner` as every executor
and answers when the batch is done.

Workers are started with `spawn`, never `fork`: the API process has threads,
database pools and perhaps CUDA, none of which survive a fork.

A supervising thread per worker hands it batches and reads its messages.
When a worker dies, the jobs of its batch are settled at once: a job it had
started (it holds the job's lease) is failed and its credits released —
guarded by the lease owner, so a job it finished is never touched and
nothing is charged twice; a job it had not started is queued again. Then a
new worker is started, after a delay that grows while it keeps dying.
Expiring leases stay the backstop for whatever this process cannot see.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

import anyio

from easel.errors import Overloaded, RateLimited
from easel.jobs.executors.base import fail_unstarted
from easel.jobs.executors.channel import (
    BatchDone,
    CancelJob,
    Channel,
    FromWorker,
    JobChanged,
    RunBatch,
    StopWorker,
    ToWorker,
    WorkerReady,
    WorkerStarted,
)
from easel.jobs.lease import LeaseKeeper
from easel.jobs.notify import ChangeHint
from easel.jobs.scheduler import FairScheduler, QueuedJob
from easel.jobs.store import WORKER_STOPPED, JobStore

log = logging.getLogger("easel.jobs")

# a worker that dies sooner than this after starting is crash-looping: back off
_HEALTHY_SECONDS = 60.0
_MAX_RESTART_DELAY = 30.0


class WorkerHandle(Protocol):
    """A started worker: its end of the channel and its life."""

    @property
    def channel(self) -> Channel: ...

    @property
    def exitcode(self) -> int | None: ...

    def is_alive(self) -> bool: ...

    def join(self, timeout: float) -> None: ...

    def kill(self) -> None: ...


StartWorker = Callable[[str], WorkerHandle]
"""Starts a worker for a device ("cuda:0", "cpu")."""

WorkerTarget = Callable[[Connection, str], None]
"""What a worker process runs: its end of the pipe and its device (picklable)."""


class SpawnedWorker:
    """A worker process started with the `spawn` method."""

    def __init__(self, process: BaseProcess, channel: Channel) -> None:
        self._process = process
        self._channel = channel

    @property
    def channel(self) -> Channel:
        return self._channel

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def join(self, timeout: float) -> None:
        self._process.join(timeout)

    def kill(self) -> None:
        self._process.kill()


def spawn_workers(target: WorkerTarget) -> StartWorker:
    """A `StartWorker` that runs `target(connection, device)` in a new `spawn`ed process."""
    context = multiprocessing.get_context("spawn")

    def start(device: str) -> SpawnedWorker:
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=target, args=(theirs, device), name=f"easel-worker {device}", daemon=True
        )
        process.start()
        theirs.close()  # only the worker holds its end, so its death reads as end of file
        return SpawnedWorker(process, Channel(ours))

    return start


@dataclass
class _Slot:
    """One worker's place: the process now in it and the batch it runs."""

    name: str
    device: str
    worker: WorkerHandle | None = None
    owner: str | None = None  # the worker's lease owner, once it said so
    state: str | None = "starting"  # None: ready
    batch: list[QueuedJob] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ProcessExecutor:
    """Queues jobs here and runs them in one worker process per device.

    Args:
        scheduler: the fair, batching queue (it stays in this process).
        store: settles jobs of a worker that died, and jobs queued at shutdown.
        leases: renews this process's leases (jobs it queued and no worker took yet).
        devices: one worker each, in order; repeat a device for more workers on it.
        start_worker: starts a worker (`spawn_workers(...)`, or a fake in tests).
        notify: wakes this process's waiters on a job (`JobNotifier.notify`).
        idle_check: how often an idle supervisor looks at its worker's health.
        restart_delay: the first wait before restarting a worker that died.
    """

    def __init__(
        self,
        scheduler: FairScheduler,
        store: JobStore,
        leases: LeaseKeeper,
        *,
        devices: Sequence[str],
        start_worker: StartWorker,
        notify: ChangeHint,
        idle_check: float = 0.5,
        restart_delay: float = 1.0,
    ) -> None:
        if not devices:
            raise ValueError("the local executor needs at least one device")
        self.scheduler = scheduler
        self._store = store
        self._leases = leases
        self._start_worker = start_worker
        self._notify = notify
        self._idle_check = idle_check
        self._restart_delay = restart_delay
        self._slots = [
            _Slot(name=_slot_name(devices, index), device=device)
            for index, device in enumerate(devices)
        ]
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._batch_numbers = iter(range(1, 1 << 62))
        self._numbers_lock = threading.Lock()
        self.restarts = 0

    # -- the Executor protocol -----------------------------------------------------------

    async def start(self) -> None:
        self._leases.start()
        for slot in self._slots:
            thread = threading.Thread(
                target=self._supervise, args=(slot,), name=f"easel-supervisor {slot.name}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    async def stop(self) -> None:
        self._closing.set()
        fail_unstarted(self._store, (job.job_id for job in self.scheduler.close()))
        for slot in self._slots:
            self._send(slot, StopWorker())  # running jobs are cancelled within a step
        for thread in self._threads:
            await anyio.to_thread.run_sync(thread.join, 30)
        for slot in self._slots:  # a worker that did not stop in time
            if slot.worker is not None and slot.worker.is_alive():
                slot.worker.kill()
        await anyio.to_thread.run_sync(self._leases.stop)

    def submit(self, job_id: str, *, organization_id: str, batch_key: str, open_jobs: int) -> None:
        self.scheduler.put(
            QueuedJob(job_id=job_id, organization_id=organization_id, batch_key=batch_key)
        )

    def cancel(self, job_id: str) -> bool:
        if self.scheduler.cancel(job_id):
            return True
        for slot in self._slots:
            with slot.lock:
                running = next((job for job in slot.batch if job.job_id == job_id), None)
            if running is not None:
                running.cancel.set()
                self._send(slot, CancelJob(job_id))
                return True
        return False

    # -- readiness -----------------------------------------------------------------------

    def not_ready(self) -> str | None:
        """Why some worker cannot take jobs yet (starting, loading, restarting), else None."""
        reasons = [f"worker {slot.name}: {slot.state}" for slot in self._slots if slot.state]
        return "; ".join(reasons) or None

    # -- one supervising thread per worker -----------------------------------------------

    def _supervise(self, slot: _Slot) -> None:
        delay = self._restart_delay
        while not self._closing.is_set():
            slot.state = "starting"
            started = time.monotonic()
            try:
                worker = self._start_worker(slot.device)
            except Exception:  # e.g. out of processes: try again later
                log.exception("starting worker %s failed", slot.name)
            else:
                slot.worker = worker
                self._serve(slot, worker)
                self._retire(slot, worker)
            if self._closing.is_set():
                break
            self.restarts += 1
            delay = (
                self._restart_delay
                if time.monotonic() - started > _HEALTHY_SECONDS
                else min(delay * 2, _MAX_RESTART_DELAY)
            )
            slot.state = f"restarting in {delay:.0f} s"
            self._closing.wait(delay)
        slot.state = "stopped"

    def _serve(self, slot: _Slot, worker: WorkerHandle) -> None:
        """Feed the worker batches until it dies or the executor closes."""
        channel = worker.channel
        try:
            while slot.owner is None:  # nothing is sent its way before it is built
                self._handle(slot, channel.recv())
            while True:
                batch = self.scheduler.take(timeout=self._idle_check)
                if batch is None:
                    if self._closing.is_set():
                        return
                    while channel.poll():  # a late WorkerReady, or end of file
                        self._handle(slot, channel.recv())
                    if not worker.is_alive():
                        return
                    continue
                self._run(slot, channel, batch)
        except (EOFError, OSError):
            return  # the worker died; _retire settles its batch

    def _run(self, slot: _Slot, channel: Channel, batch: list[QueuedJob]) -> None:
        with self._numbers_lock:
            number = next(self._batch_numbers)
        with slot.lock:
            slot.batch = batch
        channel.send(RunBatch(number, tuple(job.job_id for job in batch)))
        for job in batch:  # cancelled between take() and now: the worker must know too
            if job.cancel.is_set():
                channel.send(CancelJob(job.job_id))
        while not (isinstance(message := channel.recv(), BatchDone) and message.batch == number):
            self._handle(slot, message)
        with slot.lock:
            slot.batch = []
        self.scheduler.done(batch)

    def _handle(self, slot: _Slot, message: ToWorker | FromWorker) -> None:
        if isinstance(message, JobChanged):
            self._notify(message.job_id, still_open=message.still_open)
        elif isinstance(message, WorkerStarted):
            slot.owner = message.owner
            slot.state = message.not_ready
            log.info("worker %s started (%s)", slot.name, message.owner)
        elif isinstance(message, WorkerReady):
            slot.state = message.not_ready
        else:
            log.warning("worker %s sent an unexpected %r", slot.name, message)

    def _retire(self, slot: _Slot, worker: WorkerHandle) -> None:
        """The worker is gone (or going): reap it and settle the batch it held."""
        worker.join(10)
        if worker.is_alive():
            worker.kill()
            worker.join(10)
        with slot.lock:
            batch, slot.batch = slot.batch, []
            owner, slot.owner = slot.owner, None
        slot.worker = None
        if not self._closing.is_set() or batch:
            log.error(
                "worker %s exited (code %s) holding %d job(s)",
                slot.name,
                worker.exitcode,
                len(batch),
            )
        if batch:
            self._recover(batch, owner)
            self.scheduler.done(batch)

    def _recover(self, batch: list[QueuedJob], owner: str | None) -> None:
        for job in batch:
            # a job the dead worker had started: failed and refunded, if it still held it
            if owner is not None and self._store.fail(
                job.job_id, status=500, name="server_error", message=WORKER_STOPPED, owner=owner
            ):
                self._notify(job.job_id)
                continue
            view = self._store.get(job.job_id)
            if view is None or view.status != "queued":
                continue  # settled already: succeeded, cancelled, or failed
            try:  # never started: it runs on the next worker
                self.scheduler.put(
                    QueuedJob(
                        job_id=job.job_id,
                        organization_id=job.organization_id,
                        batch_key=job.batch_key,
                    )
                )
            except (Overloaded, RateLimited):
                fail_unstarted(self._store, [job.job_id])
                self._notify(job.job_id)

    def _send(self, slot: _Slot, message: ToWorker) -> None:
        worker = slot.worker
        if worker is None:
            return
        try:
            worker.channel.send(message)
        except OSError:  # the worker just died; its supervisor settles its batch
            pass


def _slot_name(devices: Sequence[str], index: int) -> str:
    device = devices[index]
    same = [i for i, other in enumerate(devices) if other == device]
    return device if len(same) == 1 else f"{device}#{same.index(index) + 1}"
