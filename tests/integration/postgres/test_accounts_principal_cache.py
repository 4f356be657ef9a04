"""`tests/unit/accounts/test_principal_cache.py` on PostgreSQL."""

from tests.unit.accounts.test_principal_cache import *  # noqa: F403
