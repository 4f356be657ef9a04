"""`tests/unit/accounts/test_key_usage.py` on PostgreSQL."""

from tests.unit.accounts.test_key_usage import *  # noqa: F403
