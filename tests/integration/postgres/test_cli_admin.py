"""`tests/unit/cli/test_admin.py` on PostgreSQL."""

from tests.unit.cli.test_admin import *  # noqa: F403
