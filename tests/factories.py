"""Builders for the objects tests need: settings, accounts with keys and credits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easel.accounts.service import AccountsService
from easel.billing.prices import to_milli
from easel.billing.service import BillingService
from easel.config import Settings


def make_settings(data_dir: Path, db_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a test app: no bootstrap, the given database, jobs in this process
    (injected fake engines cannot cross into worker processes), everything else default."""
    server = {"data_dir": data_dir, "bootstrap": False, **overrides.pop("server", {})}
    database = {"url": db_url, **overrides.pop("database", {})}
    jobs = {"executor": "inprocess", **overrides.pop("jobs", {})}
    return Settings(server=server, database=database, jobs=jobs, **overrides)


@dataclass(frozen=True)
class TestAccount:
    __test__ = False  # not a pytest class

    secret: str
    user_id: str
    org_id: str
    key_id: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def make_account(
    accounts: AccountsService,
    billing: BillingService,
    *,
    email: str | None = None,
    credits: float = 100.0,
    org_name: str = "Test org",
) -> TestAccount:
    """A user in its own organization with `credits`, and one API key."""
    import uuid

    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    user_id = accounts.create_user(email)
    org_id = accounts.create_organization(org_name)
    accounts.add_member(user_id, org_id, role="OWNER", default=True)
    if credits:
        billing.grant(org_id, to_milli(credits), note="test grant")
    created = accounts.create_key(user_id, name="test")
    return TestAccount(
        secret=created.secret,
        user_id=user_id,
        org_id=org_id,
        key_id=created.info.id,
        email=email,
    )
