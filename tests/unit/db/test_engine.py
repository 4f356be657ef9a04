"""The database engine: bound SQL parameters (prompts, key hashes) never reach a log or
an error message; statements that commit on their own; the connection pool's size."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import QueuePool, text
from sqlalchemy.exc import DBAPIError

from easel.config import Settings
from easel.db.engine import Database
from easel.wiring import connect

SECRET = "a secret prompt about a lighthouse"


def test_failed_statement_hides_its_parameters(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(db_url, echo=True)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            with pytest.raises(DBAPIError) as raised:
                with db.session() as session:
                    session.execute(text("SELECT * FROM no_such_table WHERE x = :p"), {"p": SECRET})
        assert "no_such_table" in str(raised.value)  # the statement is still there
        assert SECRET not in str(raised.value)
        assert "no_such_table" in caplog.text
        assert SECRET not in caplog.text
    finally:
        db.dispose()


@pytest.mark.parametrize(("scope", "kept"), [("statement", [1]), ("connection", [])])
def test_what_a_failed_statement_takes_with_it(db_url: str, scope: str, kept: list[int]) -> None:
    """`statement()`: each statement commits on its own (one round trip), so a later one
    that fails leaves the earlier ones committed. `connection()`: they stand or fall
    together."""
    db = Database(db_url)
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE pairs (n INTEGER PRIMARY KEY)"))
        with pytest.raises(DBAPIError), getattr(db, scope)() as connection:
            connection.execute(text("INSERT INTO pairs VALUES (1)"))
            connection.execute(text("INSERT INTO pairs VALUES (1)"))
        with db.statement() as connection:
            assert connection.execute(text("SELECT n FROM pairs")).scalars().all() == kept
    finally:
        db.dispose()


def test_the_pool_keeps_the_connections_of_a_burst_open(db_url: str) -> None:
    """16 concurrent sessions (an API process under 16 clients) leave 16 connections
    open for the next burst: opening one per request cost a fifth of the throughput."""
    settings = Settings(database={"url": db_url})
    db = connect(settings)
    try:
        all_open = threading.Barrier(16)

        def hold_one() -> None:
            with db.session() as session:
                session.execute(text("SELECT 1"))
                all_open.wait(timeout=30)

        threads = [threading.Thread(target=hold_one) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pool = db.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == settings.database.pool_size == 20
        assert pool.checkedin() == 16
    finally:
        db.dispose()


def test_an_in_memory_database_takes_no_pool_size() -> None:
    db = Database("sqlite://", pool_size=3)
    try:
        with db.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()
