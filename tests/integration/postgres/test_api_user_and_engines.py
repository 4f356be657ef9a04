"""`tests/unit/api/test_user_and_engines.py` on PostgreSQL."""

from tests.unit.api.test_user_and_engines import *  # noqa: F403
