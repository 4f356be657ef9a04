"""The request log is written in batches, off the request path, and loses nothing
that a write refused or a shutdown left queued."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from easel.db import migrate
from easel.db.engine import Database
from easel.usage import service as usage_module
from easel.usage.service import RequestRecord, UsageService


def entry(n: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"req-{n}", method="GET", route="/v1/user/balance", status=200, latency_ms=1.5
    )


def written(db: Database) -> list[str]:
    """The request ids in the table (a second service has nothing queued of its own)."""
    return [r.request_id for r in UsageService(db).recent(limit=1000)]


def test_recording_queues_and_one_flush_writes_every_row_with_its_own_time(
    database: Database,
) -> None:
    log = UsageService(database)
    before = datetime.now(UTC)
    for n in range(3):
        assert log.record(entry(n))
    assert written(database) == []  # nothing on the request path
    assert log.flush() == 3
    assert log.flush() == 0
    rows = UsageService(database).recent()
    assert [r.request_id for r in rows] == ["req-2", "req-1", "req-0"]
    assert all(r.created_at is not None and r.created_at >= before for r in rows)


def test_reading_writes_what_is_queued_first(database: Database) -> None:
    log = UsageService(database)
    log.record(entry(1))
    assert [r.request_id for r in log.recent()] == ["req-1"]


def test_closing_writes_what_is_still_queued(database: Database) -> None:
    log = UsageService(database, interval=3600)
    log.start()
    log.record(entry(1))
    log.close()
    assert written(database) == ["req-1"]


def test_the_background_thread_writes_without_being_asked(database: Database) -> None:
    log = UsageService(database, interval=0.01)
    log.start()
    try:
        log.record(entry(1))
        deadline = time.monotonic() + 10
        while not written(database):
            assert time.monotonic() < deadline, "never written"
            time.sleep(0.01)
    finally:
        log.close()


def test_rows_a_write_refused_are_kept_for_the_next_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not-yet-migrated.db'}"
    db = Database(url)
    try:
        log = UsageService(db)
        log.record(entry(1))
        with pytest.raises(OperationalError):
            log.flush()  # no table yet
        log.record(entry(2))
        migrate.upgrade(url)
        assert log.flush() == 2
        assert written(db) == ["req-2", "req-1"]
    finally:
        db.dispose()


def test_a_full_queue_drops_new_rows_and_says_so(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(usage_module, "MAX_QUEUED", 2)
    log = UsageService(database)
    assert log.record(entry(1)) and log.record(entry(2))
    assert not log.record(entry(3))
    with caplog.at_level(logging.WARNING, logger="easel.usage"):
        assert log.flush() == 2
    assert "1 rows dropped" in caplog.text
    assert written(database) == ["req-2", "req-1"]


def test_closing_with_the_database_gone_logs_the_loss_and_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        log = UsageService(db, interval=3600)
        log.start()
        log.record(entry(1))
        with caplog.at_level(logging.ERROR, logger="easel.usage"):
            log.close()  # shutdown goes on: the app still stops its jobs and workers
        assert "1 rows lost at shutdown" in caplog.text
    finally:
        db.dispose()
