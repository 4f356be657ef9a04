"""`tests/unit/api/test_fuzz_v1.py` on PostgreSQL."""

from tests.unit.api.test_fuzz_v1 import *  # noqa: F403
