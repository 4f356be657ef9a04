"""`tests/unit/api/test_errors_and_operations.py` on PostgreSQL."""

from tests.unit.api.test_errors_and_operations import *  # noqa: F403
