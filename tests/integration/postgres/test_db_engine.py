"""`tests/unit/db/test_engine.py` on PostgreSQL, and what only PostgreSQL does: ping
pooled connections the server may have closed."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from easel.db.engine import make_engine
from tests.unit.db.test_engine import *  # noqa: F403


@pytest.fixture
def terminate_pool(db_url: str) -> Iterator[object]:
    """Closes, server-side, every connection of an engine (as a server restart would)."""
    admin = make_engine(db_url)

    def terminate(engine: Engine) -> None:
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    yield terminate
    admin.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_the_server_closed_is_replaced_unseen(
    db_url: str, terminate_pool: object
) -> None:
    engine = make_engine(db_url, idle_ping_seconds=0.0)
    try:
        before = _backend(engine)
        terminate_pool(engine)  # type: ignore[operator]
        assert _backend(engine) != before  # pinged, found closed, and reconnected
    finally:
        engine.dispose()


def test_a_busy_connection_the_server_closed_fails_once_then_the_pool_recovers(
    db_url: str, terminate_pool: object
) -> None:
    """No ping on a connection in steady use: the statement that finds it closed fails,
    and SQLAlchemy discards the pool's other connections from before that moment."""
    engine = make_engine(db_url, idle_ping_seconds=3600)
    try:
        with engine.connect() as first, engine.connect() as second:  # two pooled connections
            first.execute(text("SELECT 1"))
            second.execute(text("SELECT 1"))
        terminate_pool(engine)  # type: ignore[operator]
        with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert raised.value.connection_invalidated
        for _ in range(3):
            _backend(engine)
    finally:
        engine.dispose()
