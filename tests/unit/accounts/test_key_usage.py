"""Key use is recorded off the request path: authentication never writes, and
the recorder writes every key's last use in one batch."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from easel.accounts.key_usage import KeyUsageRecorder
from easel.accounts.service import AccountsService
from easel.db.engine import Database

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    """Every SQL statement the database runs while the test does."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.strip().split()[0].upper())

    event.listen(database.engine, "before_cursor_execute", record)
    yield seen
    event.remove(database.engine, "before_cursor_execute", record)


def make_keys(accounts: AccountsService, count: int) -> list[tuple[str, str]]:
    user = accounts.create_user("usage@example.com")
    accounts.add_member(user, accounts.create_organization("Org"))
    created = [accounts.create_key(user) for _ in range(count)]
    return [(c.info.id, c.secret) for c in created]


def last_used(accounts: AccountsService) -> dict[str, datetime | None]:
    # SQLite hands back naive UTC datetimes, PostgreSQL aware ones
    return {k.id: _aware(k.last_used_at) for k in accounts.list_keys()}


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def test_authentication_performs_no_write(database: Database, statements: list[str]) -> None:
    recorder = KeyUsageRecorder(database)
    accounts = AccountsService(database, key_usage=recorder)
    [(key_id, secret)] = make_keys(accounts, 1)
    statements.clear()
    for _ in range(3):
        assert accounts.authenticate(secret).api_key_id == key_id
    assert statements and set(statements) == {"SELECT"}, statements
    assert last_used(accounts)[key_id] is None  # not yet flushed


def test_flush_writes_each_keys_last_use_in_one_update(
    database: Database, statements: list[str]
) -> None:
    clock = StepClock()
    recorder = KeyUsageRecorder(database, clock=clock)
    accounts = AccountsService(database, key_usage=recorder)
    (first, first_secret), (second, second_secret), (unused, _) = make_keys(accounts, 3)
    accounts.authenticate(first_secret)  # T0+1s
    accounts.authenticate(second_secret)  # T0+2s
    accounts.authenticate(first_secret)  # T0+3s
    statements.clear()
    assert recorder.flush() == 2
    assert statements.count("UPDATE") == 1
    assert last_used(accounts) == {
        first: T0 + timedelta(seconds=3),
        second: T0 + timedelta(seconds=2),
        unused: None,
    }
    statements.clear()
    assert recorder.flush() == 0 and statements == []  # nothing pending, nothing written


def test_close_flushes_what_the_thread_has_not(database: Database) -> None:
    recorder = KeyUsageRecorder(database, interval=3600)
    accounts = AccountsService(database, key_usage=recorder)
    [(key_id, secret)] = make_keys(accounts, 1)
    recorder.start()
    accounts.authenticate(secret)
    recorder.close()
    assert last_used(accounts)[key_id] is not None


def test_closing_with_the_database_gone_logs_the_loss_and_does_not_raise(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        recorder = KeyUsageRecorder(db, interval=3600)
        recorder.start()
        recorder.touch("key-1")
        with caplog.at_level(logging.ERROR, logger="easel.accounts"):
            recorder.close()  # shutdown goes on: the app still stops its jobs and workers
        assert "last use of 1 API keys lost at shutdown" in caplog.text
    finally:
        db.dispose()
