"""`tests/unit/api/test_jobs.py` on PostgreSQL."""

from tests.unit.api.test_jobs import *  # noqa: F403
