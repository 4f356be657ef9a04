"""ProgressWriter: progress is stored off the engine's thread, newest value first, never
after its job is settled, and a failed write never reaches the generation."""

from __future__ import annotations

import logging
import threading

import pytest

from easel.jobs.progress import ProgressWriter

WAIT = 10.0


class SlowStore:
    """Records progress writes; each write waits until `release` is set."""

    def __init__(self, *, fail: bool = False) -> None:
        self.writes: list[tuple[str, float, str]] = []
        self.writing = threading.Event()
        self.release = threading.Event()
        self._fail = fail

    def set_progress(self, job_id: str, progress: float, *, owner: str) -> None:
        self.writing.set()
        assert self.release.wait(WAIT)
        if self._fail:
            raise OSError("the database went away")
        self.writes.append((job_id, progress, owner))


class Hints:
    def __init__(self) -> None:
        self.heard: list[tuple[str, bool]] = []

    def __call__(self, job_id: str, *, still_open: bool = False) -> None:
        self.heard.append((job_id, still_open))


@pytest.fixture
def store() -> SlowStore:
    return SlowStore()


def writer(store: SlowStore, hints: Hints) -> ProgressWriter:
    return ProgressWriter(store, hints, owner="worker-1")  # type: ignore[arg-type]


def test_a_post_returns_before_its_write_and_the_write_then_tells_waiters(
    store: SlowStore,
) -> None:
    hints = Hints()
    progress = writer(store, hints)
    progress.post("a", 0.25)  # the write blocks in the store: post did not wait for it
    assert store.writing.wait(WAIT)
    assert store.writes == [] and hints.heard == []
    store.release.set()
    progress.flush()
    assert store.writes == [("a", 0.25, "worker-1")]
    assert hints.heard == [("a", True)]  # a hint that the job is still open


def test_a_newer_value_replaces_one_not_yet_written(store: SlowStore) -> None:
    hints = Hints()
    progress = writer(store, hints)
    progress.post("a", 0.1)
    assert store.writing.wait(WAIT)  # 0.1 is being written
    for value in (0.2, 0.3, 0.4):
        progress.post("a", value)
    progress.post("b", 0.5)
    store.release.set()
    progress.flush()
    assert store.writes == [("a", 0.1, "worker-1"), ("a", 0.4, "worker-1"), ("b", 0.5, "worker-1")]


def test_a_value_not_yet_written_when_its_job_settles_is_dropped(store: SlowStore) -> None:
    hints = Hints()
    progress = writer(store, hints)
    progress.post("a", 0.1)
    assert store.writing.wait(WAIT)
    progress.post("a", 0.9)
    progress.post("b", 0.9)
    progress.discard(["a"])
    store.release.set()
    progress.flush()
    assert [job for job, _, _ in store.writes] == ["a", "b"]
    assert ("a", 0.9, "worker-1") not in store.writes


def test_a_failed_write_is_logged_and_tells_no_one(caplog: pytest.LogCaptureFixture) -> None:
    store = SlowStore(fail=True)
    store.release.set()
    hints = Hints()
    progress = writer(store, hints)
    with caplog.at_level(logging.WARNING, logger="easel.jobs"):
        progress.post("a", 0.5)
        progress.flush()
    assert "could not store job a's progress" in caplog.text
    assert hints.heard == []
    progress.post("a", 0.6)  # the writer lives on
    progress.flush()
    assert store.writing.is_set()


def test_a_start_is_told_off_the_callers_thread_and_before_the_jobs_progress(
    store: SlowStore,
) -> None:
    told_on: list[str] = []

    class ThreadHints(Hints):
        def __call__(self, job_id: str, *, still_open: bool = False) -> None:
            told_on.append(threading.current_thread().name)
            super().__call__(job_id, still_open=still_open)

    hints = ThreadHints()
    progress = writer(store, hints)
    progress.post("a", 0.1)  # the writer is busy with it: the start waits its turn
    assert store.writing.wait(WAIT)
    progress.started("b")
    assert hints.heard == []  # started() did not wait for the hint
    store.release.set()
    progress.flush()
    assert hints.heard == [("a", True), ("b", True)]
    assert threading.current_thread().name not in told_on


def test_a_hint_that_fails_is_logged_and_the_writer_lives_on(
    store: SlowStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(job_id: str, *, still_open: bool = False) -> None:
        raise ConnectionError("the channel went away")

    store.release.set()
    progress = ProgressWriter(store, broken, owner="worker-1")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="easel.jobs"):
        progress.started("a")
        progress.post("a", 0.5)
        progress.flush()
    assert "could not tell job a's waiters" in caplog.text
    assert store.writes == [("a", 0.5, "worker-1")]
