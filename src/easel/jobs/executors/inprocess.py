"""The in-process executor: worker threads in this process pull fair batches and run them.

For tests and tiny deployments: generation shares the API's interpreter.
"""

from __future__ import annotations

import logging
import threading

import anyio

from easel.jobs.executors.base import fail_crashed_batch, fail_unstarted
from easel.jobs.lease import LeaseKeeper
from easel.jobs.runner import JobRunner
from easel.jobs.scheduler import FairScheduler, QueuedJob
from easel.jobs.store import JobStore

log = logging.getLogger("easel.jobs")


class InProcessExecutor:
    def __init__(
        self,
        scheduler: FairScheduler,
        runner: JobRunner,
        store: JobStore,
        leases: LeaseKeeper,
        *,
        workers: int = 1,
    ) -> None:
        self.scheduler = scheduler
        self._runner = runner
        self._store = store
        self._leases = leases
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._running: dict[str, QueuedJob] = {}
        self._lock = threading.Lock()

    async def start(self) -> None:
        self._leases.start()
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"easel-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    async def stop(self) -> None:
        fail_unstarted(self._store, (job.job_id for job in self.scheduler.close()))
        with self._lock:
            for job in self._running.values():
                job.cancel.set()
        for thread in self._threads:
            await anyio.to_thread.run_sync(thread.join, 30)
        await anyio.to_thread.run_sync(self._runner.flush)
        await anyio.to_thread.run_sync(self._leases.stop)

    def submit(self, job_id: str, *, organization_id: str, batch_key: str, open_jobs: int) -> None:
        self.scheduler.put(
            QueuedJob(job_id=job_id, organization_id=organization_id, batch_key=batch_key)
        )

    def cancel(self, job_id: str) -> bool:
        if self.scheduler.cancel(job_id):
            return True
        with self._lock:
            running = self._running.get(job_id)
        if running is not None:
            running.cancel.set()
            return True
        return False

    def _work(self) -> None:
        while True:
            batch = self.scheduler.take()
            if batch is None:
                return
            with self._lock:
                self._running.update((job.job_id, job) for job in batch)
            try:
                self._runner.run(
                    [job.job_id for job in batch], cancel={job.job_id: job.cancel for job in batch}
                )
            except Exception:  # keep the worker alive and settle whatever the runner could not
                log.exception("worker failed on a batch")
                fail_crashed_batch(self._store, (job.job_id for job in batch))
            finally:
                with self._lock:
                    for job in batch:
                        self._running.pop(job.job_id, None)
                self.scheduler.done(batch)
