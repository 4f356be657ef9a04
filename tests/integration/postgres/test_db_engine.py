"""`tests/unit/db/test_engine.py` on PostgreSQL."""

from tests.unit.db.test_engine import *  # noqa: F403


def test_only_a_session_that_need_not_be_durable_skips_the_wal_flush(db_url: str) -> None:
    from sqlalchemy import text

    from easel.db.engine import Database

    db = Database(db_url)
    try:
        with db.session(durable=False) as session:
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"
        # SET LOCAL ends with its transaction: the pooled connection is durable again
        with db.session() as session:
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "on"
    finally:
        db.dispose()
