"""`tests/unit/api/test_generation.py` on PostgreSQL."""

from tests.unit.api.test_generation import *  # noqa: F403
