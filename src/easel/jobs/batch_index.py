"""Which queued jobs share a batch key, kept in Redis for workers on any host.

A broker hands a worker one job at a time (prefetch 1). To still run
compatible jobs as one engine call, the API also pushes each job id on a
Redis list named after its batch key; a worker that receives a job drains up
to `max_batch_size - 1` more ids from that job's list and takes them through
`JobStore.mark_running`, which only one worker can win per job.

The index is a shortcut, never the truth: a drained id whose job was
cancelled or taken is skipped by the runner, and a job whose id was drained
by a worker that died still has its own broker message, so it runs later.
"""

from __future__ import annotations

import hashlib
import logging

import redis

log = logging.getLogger("easel.jobs")


class BatchIndex:
    def __init__(
        self, client: redis.Redis, *, ttl_seconds: float, prefix: str = "easel:batch"
    ) -> None:
        self._redis = client
        self._ttl = max(1, int(ttl_seconds))
        self._prefix = prefix

    def _key(self, batch_key: str) -> str:
        return f"{self._prefix}:{hashlib.sha256(batch_key.encode()).hexdigest()[:24]}"

    def add(self, batch_key: str, job_id: str) -> None:
        key = self._key(batch_key)
        try:
            with self._redis.pipeline() as pipe:
                pipe.rpush(key, job_id)
                pipe.expire(key, self._ttl)
                pipe.execute()
        except redis.RedisError as exc:  # the job still runs, alone
            log.warning("batch index unavailable (%s); job %s will not be batched", exc, job_id)

    def drain(self, batch_key: str, leader: str, count: int) -> list[str]:
        """Take up to `count` ids queued with `batch_key`, other than `leader` (dropped too)."""
        key = self._key(batch_key)
        try:
            with self._redis.pipeline() as pipe:
                pipe.lrem(key, 1, leader)
                if count > 0:
                    pipe.lpop(key, count)
                replies = pipe.execute()
        except redis.RedisError as exc:
            log.warning("batch index unavailable (%s); running job %s alone", exc, leader)
            return []
        taken = replies[1] if count > 0 else None
        return [job_id.decode() for job_id in taken or []]
