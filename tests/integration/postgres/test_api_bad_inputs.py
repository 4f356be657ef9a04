"""`tests/unit/api/test_bad_inputs.py` on PostgreSQL."""

from tests.unit.api.test_bad_inputs import *  # noqa: F403
