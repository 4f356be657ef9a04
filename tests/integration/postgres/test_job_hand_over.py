"""`tests/unit/jobs/test_hand_over.py` on PostgreSQL."""

from tests.unit.jobs.conftest import org, store  # noqa: F401 - their fixtures
from tests.unit.jobs.test_hand_over import *  # noqa: F403
