"""How the runner looks for cancels while a job runs: every step, or with a push
channel, the in-process event every step and the store only now and then; and
that no step waits for its progress to be stored.

A real `JobStore` on SQLite and a step engine the test drives; the store
counts its cancel reads (`to_stop`), which are a database round trip each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from easel.billing.service import BillingService
from easel.db.engine import Database
from easel.engines.base import GeneratedImage, GeneratedOutput, GenerationResult
from easel.errors import Cancelled
from easel.jobs.runner import JobRunner
from easel.jobs.store import JobStore
from easel.jobs.work import EncodedOutput
from easel.storage.local import LocalArtifactStore
from tests.unit.jobs.test_store import new_job

STEPS = 6
OWNER = "here:1:test"
JOB = "a" * 64
PRICE_MILLI = 2_000


class CountingStore(JobStore):
    """The real store, counting the runner's reads for cancels."""

    cancel_reads = 0

    def to_stop(self, job_ids: Iterable[str], *, owner: str) -> set[str]:
        self.cancel_reads += 1
        return super().to_stop(job_ids, owner=owner)


class StepEngine:
    """Runs STEPS steps; before step `act_at` it calls `act` (the test's cancel)."""

    def __init__(self, act_at: int = 0, act: Callable[[], None] = lambda: None) -> None:
        self.act_at, self.act = act_at, act
        self.steps_run = 0

    def generate(self, requests: Sequence[object], *, progress: Any, cancel: Any) -> Any:
        for step in range(1, STEPS + 1):
            if cancel.is_set():
                raise Cancelled("cancelled")
            if step == self.act_at:
                self.act()
            self.steps_run = step
            progress(step, STEPS)
        image = GeneratedImage(Image.new("RGB", (8, 8)), seed=1)
        return [GenerationResult([image]) for _ in requests]


class OneEngine:
    def __init__(self, engine: StepEngine) -> None:
        self.engine = engine

    def get(self, engine_id: str) -> StepEngine:
        return self.engine


@dataclass
class PlainRequest:
    kind: str = "text-to-image"


@dataclass
class PlainWork:
    engine_id: str
    request: Any = field(default_factory=PlainRequest)

    def encode(self, output: GeneratedOutput) -> EncodedOutput:
        return EncodedOutput(b"png", "image/png", "png")


@pytest.fixture
def store(database: Database, billing: BillingService, org: str) -> CountingStore:
    store = CountingStore(database, billing)
    store.create(replace(new_job(org, JOB), engine_id="step", params={}, cost_milli=PRICE_MILLI))
    return store


def run(
    store: JobStore,
    engine: StepEngine,
    tmp_path: Path,
    *,
    store_check_seconds: float,
    events: dict[str, threading.Event] | None = None,
) -> None:
    runner = JobRunner(
        store,
        LocalArtifactStore(tmp_path),
        OneEngine(engine),  # type: ignore[arg-type]
        lambda engine_id, params, load: PlainWork(engine_id),
        owner=OWNER,
        lease=timedelta(minutes=1),
        store_check_seconds=lambda: store_check_seconds,
    )
    try:
        runner.run([JOB], cancel=events)
    finally:
        runner.flush()


def assert_cancelled_uncharged(store: JobStore, billing: BillingService, org: str) -> None:
    view = store.get(JOB)
    assert view is not None and view.status == "cancelled"
    assert view.credits_charged_milli == 0
    assert billing.available_credits(org) == 10  # the reservation went back


def test_without_a_push_channel_the_store_is_read_after_every_step(
    store: CountingStore, tmp_path: Path
) -> None:
    run(store, StepEngine(), tmp_path, store_check_seconds=0)
    assert store.cancel_reads == STEPS  # each step; settling checks the flag itself


def test_a_cancel_in_the_store_alone_stops_the_job_within_one_step(
    store: CountingStore, tmp_path: Path, billing: BillingService, org: str
) -> None:
    engine = StepEngine(act_at=3, act=lambda: store.request_cancel(JOB))
    run(store, engine, tmp_path, store_check_seconds=0)
    assert_cancelled_uncharged(store, billing, org)
    assert engine.steps_run == 3  # the read after step 3 saw it


def test_with_a_push_channel_no_step_reads_the_store(store: CountingStore, tmp_path: Path) -> None:
    run(store, StepEngine(), tmp_path, store_check_seconds=3600)
    assert store.cancel_reads == 0  # the settle itself checks the cancel flag
    view = store.get(JOB)
    assert view is not None and view.status == "succeeded"


def test_with_a_push_channel_the_event_stops_the_job_within_one_step(
    store: CountingStore, tmp_path: Path, billing: BillingService, org: str
) -> None:
    events = {JOB: threading.Event()}
    engine = StepEngine(act_at=2, act=events[JOB].set)
    run(store, engine, tmp_path, store_check_seconds=3600, events=events)
    assert_cancelled_uncharged(store, billing, org)
    assert engine.steps_run == 2
    assert store.cancel_reads == 0


def test_a_cancel_whose_message_was_lost_is_still_never_charged(
    store: CountingStore, tmp_path: Path, billing: BillingService, org: str
) -> None:
    # the flag is set but no event fires (the pub/sub message was lost): the job runs
    # to its end, and the settle sees the flag and cancels it instead of charging
    engine = StepEngine(act_at=2, act=lambda: store.request_cancel(JOB))
    run(store, engine, tmp_path, store_check_seconds=3600)
    assert_cancelled_uncharged(store, billing, org)
    assert engine.steps_run == STEPS
    assert not (tmp_path / "jobs" / JOB / "out").exists()  # its encoded outputs went too


class ProgressAfterSettleStore(CountingStore):
    """A progress write that can only finish once the job is settled: a runner that
    wrote progress on the engine's thread would wait here (up to WAIT_SECONDS)."""

    WAIT_SECONDS = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settled = threading.Event()
        self.writing = threading.Event()
        self.writes_saw_settle: list[bool] = []

    def set_progress(self, job_id: str, progress: float, *, owner: str) -> None:
        self.writing.set()
        self.writes_saw_settle.append(self.settled.wait(self.WAIT_SECONDS))
        super().set_progress(job_id, progress, owner=owner)

    def succeed(self, job_id: str, *args: Any, **kwargs: Any) -> bool:
        self.settled.set()
        return super().succeed(job_id, *args, **kwargs)


def test_no_step_waits_for_its_progress_to_be_stored(store: CountingStore, tmp_path: Path) -> None:
    slow = ProgressAfterSettleStore(store._db, store._billing)
    # the last step waits until the first step's write has begun (on the writer thread)
    engine = StepEngine(act_at=STEPS, act=lambda: slow.writing.wait(slow.WAIT_SECONDS))
    run(slow, engine, tmp_path, store_check_seconds=3600)
    assert slow.writes_saw_settle and all(slow.writes_saw_settle)
    view = slow.get(JOB)
    # the write that landed after the settle changed nothing
    assert view is not None and view.status == "succeeded" and view.progress == 1.0
