"""The executor protocol: the only thing the job service knows about execution.

Executors are fed job ids, never live objects: whoever runs a job (a thread
here, a worker process, a host on the other side of a broker) rebuilds it
from the job store and the artifact store.
"""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, job_id: str, *, organization_id: str, batch_key: str) -> None:
        """Queue a stored job, or raise `Overloaded` / `RateLimited` when the queue is full.

        Jobs with equal `batch_key`s may run as one engine call.
        """
        ...

    def cancel(self, job_id: str) -> bool:
        """Signal a queued or running job to stop; True if this executor knew it.

        The job service has already set the job's `cancel_requested` flag, which
        any worker sees within a step; this is the faster, in-process path.
        """
        ...
