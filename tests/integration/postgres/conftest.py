"""The unit layer's database tests, run again on PostgreSQL.

The unit layer runs on SQLite only. Each `test_*.py` here imports the tests of one
unit module (`from tests.unit… import *`) so that they run a second time, here, with
`db_backend` set to PostgreSQL: the same fixtures then hand out copies of a PostgreSQL
template database instead of SQLite files. Add a module here when a unit module's
tests depend on the database engine (locking, races, SQL dialect, migrations).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The unit layer's fixtures, which the imported tests need (they are not visible from here).
from tests.unit.api.conftest import (  # noqa: F401
    account,
    app,
    client,
    clock,
    engine_source,
    fake_engines,
    services,
    settings_overrides,
)
from tests.unit.conftest import accounts, billing, database  # noqa: F401

HERE = Path(__file__).parent


@pytest.fixture
def db_backend() -> str:
    return "postgres"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here `postgres`, so `-m "not postgres"` skips them all."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.postgres)
