"""The job layer's fixtures (`tests/integration/postgres` imports them too)."""

from __future__ import annotations

import pytest

from easel.accounts.service import AccountsService
from easel.billing.service import BillingService
from easel.db.engine import Database
from easel.jobs.store import JobStore


@pytest.fixture
def org(accounts: AccountsService, billing: BillingService) -> str:
    """An organization holding 10 credits."""
    org_id = accounts.create_organization("Jobs org")
    billing.grant(org_id, 10_000)
    return org_id


@pytest.fixture
def store(database: Database, billing: BillingService) -> JobStore:
    """The job store on the test's database (some modules replace it with a fake)."""
    return JobStore(database, billing)
