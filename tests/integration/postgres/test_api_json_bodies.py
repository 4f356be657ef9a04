"""`tests/unit/api/test_json_bodies.py` on PostgreSQL."""

from tests.unit.api.test_json_bodies import *  # noqa: F403
