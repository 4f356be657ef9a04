"""`tests/unit/jobs/test_store.py` on PostgreSQL."""

from tests.unit.jobs.test_store import *  # noqa: F403
