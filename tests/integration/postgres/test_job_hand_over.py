"""`tests/unit/jobs/test_hand_over.py` on PostgreSQL."""

from tests.unit.jobs.conftest import org  # noqa: F401 - its fixture
from tests.unit.jobs.test_hand_over import *  # noqa: F403
