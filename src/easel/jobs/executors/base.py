"""The executor protocol: the only thing the job service knows about execution."""

from __future__ import annotations

from typing import Protocol

from easel.jobs.scheduler import QueuedJob


class Executor(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, job: QueuedJob) -> None:
        """Queue a job, or raise `Overloaded` / `RateLimited` when the queue is full."""
        ...

    def cancel(self, job_id: str) -> bool:
        """Signal a queued or running job to stop; True if this executor knew it."""
        ...
