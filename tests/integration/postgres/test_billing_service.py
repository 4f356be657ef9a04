"""`tests/unit/billing/test_service.py` on PostgreSQL."""

from tests.unit.billing.test_service import *  # noqa: F403
