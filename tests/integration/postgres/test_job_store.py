"""`tests/unit/jobs/test_store.py` on PostgreSQL."""

from tests.unit.jobs.conftest import org  # noqa: F401 - its fixture
from tests.unit.jobs.test_store import *  # noqa: F403
