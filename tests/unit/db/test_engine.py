"""Bound SQL parameters (prompts, key hashes) never reach a log or an error message."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from easel.db.engine import Database

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


def test_a_session_that_need_not_be_durable_still_commits_and_rolls_back(db_url: str) -> None:
    db = Database(db_url)
    try:
        with db.session(durable=False) as session:
            session.execute(text("CREATE TABLE hints (n INTEGER)"))
            session.execute(text("INSERT INTO hints VALUES (1)"))
        with pytest.raises(RuntimeError), db.session(durable=False) as session:
            session.execute(text("INSERT INTO hints VALUES (2)"))
            raise RuntimeError("rolled back")
        with db.session() as session:
            assert session.execute(text("SELECT n FROM hints")).scalars().all() == [1]
    finally:
        db.dispose()
