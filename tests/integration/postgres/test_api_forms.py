"""`tests/unit/api/test_forms.py` on PostgreSQL."""

from tests.unit.api.test_forms import *  # noqa: F403
