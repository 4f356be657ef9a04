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


def test_a_statement_commits_on_its_own(db_url: str) -> None:
    """`statement()` runs each statement in its own transaction (one round trip):
    a later one that fails leaves the earlier ones committed."""
    db = Database(db_url)
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE hints (n INTEGER PRIMARY KEY)"))
        with pytest.raises(DBAPIError), db.statement() as connection:
            connection.execute(text("INSERT INTO hints VALUES (1)"))
            connection.execute(text("INSERT INTO hints VALUES (1)"))
        with db.statement() as connection:
            assert connection.execute(text("SELECT n FROM hints")).scalars().all() == [1]
    finally:
        db.dispose()


def test_a_connection_commits_its_statements_together(db_url: str) -> None:
    db = Database(db_url)
    try:
        with db.connection() as connection:
            connection.execute(text("CREATE TABLE pairs (n INTEGER PRIMARY KEY)"))
        with pytest.raises(DBAPIError), db.connection() as connection:
            connection.execute(text("INSERT INTO pairs VALUES (1)"))
            connection.execute(text("INSERT INTO pairs VALUES (1)"))
        with db.statement() as connection:
            assert connection.execute(text("SELECT count(*) FROM pairs")).scalar() == 0
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
