"""`tests/unit/api/test_auth.py` on PostgreSQL."""

from tests.unit.api.test_auth import *  # noqa: F403
