"""The executor protocol: the only thing the job service knows about execution.

Executors are fed job ids, never live objects: whoever runs a job (a thread
here, a worker process, a host on the other side of a broker) rebuilds it
from the job store and the artifact store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from easel.jobs.store import JobStore


class Executor(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, job_id: str, *, organization_id: str, batch_key: str, open_jobs: int) -> None:
        """Queue a stored job, or raise `Overloaded` / `RateLimited` when the queue is full.

        Jobs with equal `batch_key`s may run as one engine call. `open_jobs` is the
        organization's queued and running jobs, this one included, as it was stored: a
        broker's fair dispatch ranks the job by it (a local scheduler counts its own).
        """
        ...

    def cancel(self, job_id: str) -> bool:
        """Signal a queued or running job to stop; True if this executor knew it.

        The job service has already set the job's `cancel_requested` flag, which
        any worker sees within a step; this is the faster, in-process path.
        """
        ...


def fail_unstarted(store: JobStore, job_ids: Iterable[str]) -> None:
    """Settle jobs still queued when an executor stops: failed, their credits released."""
    for job_id in job_ids:
        store.fail(
            job_id,
            status=503,
            name="server_shutting_down",
            message="The server shut down before the generation started.",
        )


def fail_crashed_batch(store: JobStore, job_ids: Iterable[str]) -> None:
    """Settle a batch whose runner raised (a bug): failed, their credits released."""
    for job_id in job_ids:
        store.fail(
            job_id, status=500, name="server_error", message="The generation failed unexpectedly."
        )
