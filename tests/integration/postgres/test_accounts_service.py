"""`tests/unit/accounts/test_service.py` on PostgreSQL."""

from tests.unit.accounts.test_service import *  # noqa: F403
