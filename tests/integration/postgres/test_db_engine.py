"""`tests/unit/db/test_engine.py` on PostgreSQL."""

from tests.unit.db.test_engine import *  # noqa: F403
