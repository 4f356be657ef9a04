"""What an `easel worker` does with one message (`JobConsumer`): the job, plus the
compatible jobs it drains from the batch index when batching is on."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from easel.jobs.executors.celery import JobConsumer


class Runner:
    owner = "worker:1:test"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def run(self, job_ids: Sequence[str], cancel: Mapping[str, threading.Event]) -> None:
        assert set(cancel) == set(job_ids)  # each job can be cancelled while it runs
        self.batches.append(list(job_ids))


class Index:
    def __init__(self, queued: list[str]) -> None:
        self.queued = queued
        self.drains: list[tuple[str, str, int]] = []

    def drain(self, batch_key: str, leader: str, count: int) -> list[str]:
        self.drains.append((batch_key, leader, count))
        taken, self.queued = self.queued[:count], self.queued[count:]
        return taken


def consumer(runner: Runner, index: Index, max_batch_size: int) -> JobConsumer:
    return JobConsumer(
        runner,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]  (only read when the runner raises)
        batches=index,  # type: ignore[arg-type]
        max_batch_size=max_batch_size,
    )


def test_a_message_runs_its_job_with_the_compatible_jobs_queued_behind_it() -> None:
    runner, index = Runner(), Index(["b", "c", "d", "e"])
    consumer(runner, index, max_batch_size=4).handle("a", "key")
    assert index.drains == [("key", "a", 3)]
    assert runner.batches == [["a", "b", "c", "d"]]


def test_with_batching_off_a_message_runs_its_job_alone_without_asking_the_index() -> None:
    runner, index = Runner(), Index(["b"])
    consumer(runner, index, max_batch_size=1).handle("a", "key")
    assert index.drains == []
    assert runner.batches == [["a"]]
