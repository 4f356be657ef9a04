"""Unit-layer fixtures: migrated databases and the services on top of them.

The unit layer runs on SQLite; `tests/integration/postgres` reruns the DB tests on
PostgreSQL with these same fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from easel.accounts.service import AccountsService
from easel.billing.service import BillingService
from easel.db.engine import Database


@pytest.fixture
def database(migrated_db_url: str) -> Iterator[Database]:
    db = Database(migrated_db_url)
    yield db
    db.dispose()


@pytest.fixture
def accounts(database: Database) -> AccountsService:
    return AccountsService(database)


@pytest.fixture
def billing(database: Database) -> BillingService:
    return BillingService(database)
