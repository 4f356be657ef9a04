"""`tests/unit/jobs/test_store.py` on PostgreSQL."""

from tests.unit.jobs.conftest import org, store  # noqa: F401 - their fixtures
from tests.unit.jobs.test_store import *  # noqa: F403
