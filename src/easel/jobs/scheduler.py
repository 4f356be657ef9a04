"""A fair, batching, bounded in-memory job queue shared by worker threads.

Fairness: organizations take turns. Each organization has its own FIFO
queue, and `take` serves the next organization in round-robin order whose
number of running jobs is below the per-organization limit, so one
organization's batch of 500 cannot starve another's single request.

Batching: the job taken first leads a batch; queued jobs with the same
`batch_key` (same engine, kind, size, steps, sampler, guidance, strength),
from its own organization first and then from the others in turn order, join
it up to `max_batch_size`, each still counted against its organization's
running limit.

Bounds: `put` refuses a job when the whole queue or the organization's share
of it is full, instead of letting memory grow without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from easel.errors import Overloaded, RateLimited


@dataclass
class QueuedJob:
    """A job id waiting for a worker, with what fairness and batching need to know."""

    job_id: str
    organization_id: str
    batch_key: Hashable
    cancel: threading.Event = field(default_factory=threading.Event)
    enqueued_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class SchedulerLimits:
    max_queued: int = 1000
    max_queued_per_org: int = 200
    max_running_per_org: int = 2
    max_batch_size: int = 1


class FairScheduler:
    def __init__(self, limits: SchedulerLimits) -> None:
        self.limits = limits
        self._queues: OrderedDict[str, deque[QueuedJob]] = OrderedDict()  # turn order
        self._running: dict[str, int] = {}
        self._queued = 0
        self._closed = False
        self._changed = threading.Condition()

    # -- producers ---------------------------------------------------------------------

    def put(self, job: QueuedJob) -> None:
        """Queue a job, or raise 503 (queue full) / 429 (organization's share full)."""
        with self._changed:
            if self._closed:
                raise Overloaded("the server is shutting down; try again shortly")
            if self._queued >= self.limits.max_queued:
                raise Overloaded(
                    f"the generation queue is full ({self.limits.max_queued} jobs); "
                    "try again shortly",
                    retry_after=10,
                )
            queue = self._queues.get(job.organization_id)
            if queue is not None and len(queue) >= self.limits.max_queued_per_org:
                raise RateLimited(
                    f"your organization already has {len(queue)} generations queued, the "
                    f"maximum; wait for some to finish",
                    retry_after=10,
                    name="too_many_queued_generations",
                )
            if queue is None:
                queue = self._queues[job.organization_id] = deque()
            queue.append(job)
            self._queued += 1
            self._changed.notify()

    def remove(self, job_id: str) -> QueuedJob | None:
        """Take a job out of the queue (it was cancelled); None if it is not queued."""
        with self._changed:
            for org, queue in self._queues.items():
                for job in queue:
                    if job.job_id == job_id:
                        queue.remove(job)
                        self._queued -= 1
                        if not queue:
                            del self._queues[org]
                        return job
        return None

    def cancel(self, job_id: str) -> bool:
        """Take a cancelled job out of the queue and set its event; False if it is not queued."""
        job = self.remove(job_id)
        if job is None:
            return False
        job.cancel.set()
        return True

    # -- consumers ---------------------------------------------------------------------

    def take(self, timeout: float | None = None) -> list[QueuedJob] | None:
        """Block until a batch can run; None on timeout or when closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                if self._closed:
                    return None
                batch = self._next_batch()
                if batch:
                    return batch
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def done(self, batch: list[QueuedJob]) -> None:
        """The batch finished (in any state); its organizations may run more."""
        with self._changed:
            for job in batch:
                left = self._running.get(job.organization_id, 0) - 1
                if left > 0:
                    self._running[job.organization_id] = left
                else:
                    self._running.pop(job.organization_id, None)
            self._changed.notify_all()

    def close(self) -> list[QueuedJob]:
        """Stop handing out work; returns the jobs still queued."""
        with self._changed:
            self._closed = True
            left = [job for queue in self._queues.values() for job in queue]
            self._queues.clear()
            self._queued = 0
            self._changed.notify_all()
            return left

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def queued_for(self, organization_id: str) -> int:
        with self._changed:
            return len(self._queues.get(organization_id, ()))

    # -- internals (lock held) ---------------------------------------------------------

    def _can_run(self, org: str, extra: int = 0) -> bool:
        return self._running.get(org, 0) + extra < self.limits.max_running_per_org

    def _next_batch(self) -> list[QueuedJob]:
        leader_org = next((org for org in self._queues if self._can_run(org)), None)
        if leader_org is None:
            return []
        leader = self._pop(leader_org, 0)
        batch = [leader]
        added: dict[str, int] = {leader_org: 1}
        # the leader's organization first, then the others in turn order
        orgs = [leader_org] + [org for org in self._queues if org != leader_org]
        for org in orgs:
            queue = self._queues.get(org)
            index = 0
            while queue and index < len(queue) and len(batch) < self.limits.max_batch_size:
                if not self._can_run(org, added.get(org, 0)):
                    break
                if queue[index].batch_key == leader.batch_key:
                    batch.append(self._pop(org, index))
                    added[org] = added.get(org, 0) + 1
                    queue = self._queues.get(org)
                else:
                    index += 1
        for org, count in added.items():
            self._running[org] = self._running.get(org, 0) + count
        # the leader's organization goes to the back of the turn order
        if leader_org in self._queues:
            self._queues.move_to_end(leader_org)
        return batch

    def _pop(self, org: str, index: int) -> QueuedJob:
        queue = self._queues[org]
        job = queue[index]
        del queue[index]
        self._queued -= 1
        if not queue:
            del self._queues[org]
        return job
