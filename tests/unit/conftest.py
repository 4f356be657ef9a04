"""Unit-layer fixtures: migrated databases and the services on top of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from easel.accounts.service import AccountsService
from easel.billing.service import BillingService
from easel.db import migrate
from easel.db.engine import Database


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    migrate.upgrade(db_url)
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def accounts(database: Database) -> AccountsService:
    return AccountsService(database)


@pytest.fixture
def billing(database: Database) -> BillingService:
    return BillingService(database)
