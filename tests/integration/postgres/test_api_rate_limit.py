"""`tests/unit/api/test_rate_limit.py` on PostgreSQL."""

from tests.unit.api.test_rate_limit import *  # noqa: F403
