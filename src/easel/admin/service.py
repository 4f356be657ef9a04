"""The admin service: what `easel admin …` and the `/admin/*` HTTP API both call.

It sits above accounts and billing (which know nothing of each other) because
an organization's summary joins both: its members from accounts, its credits
from billing. Amounts cross this seam in credits; thousandths stay inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from easel.accounts.models import MemberInfo
from easel.accounts.service import AccountsService
from easel.billing.prices import to_milli
from easel.billing.service import BillingService, LedgerEntry


@dataclass(frozen=True)
class OrganizationSummary:
    id: str
    name: str
    created_at: datetime
    members: int
    credits: float


@dataclass(frozen=True)
class CreditsStatement:
    available: float
    ledger: list[LedgerEntry]


class AdminService:
    def __init__(self, accounts: AccountsService, billing: BillingService) -> None:
        self._accounts = accounts
        self._billing = billing

    def create_user(self, email: str, *, is_admin: bool = False) -> str:
        return self._accounts.create_user(email, is_admin=is_admin)

    def create_organization(self, name: str) -> OrganizationSummary:
        org_id = self._accounts.create_organization(name)
        return next(org for org in self.organizations() if org.id == org_id)

    def organizations(self) -> list[OrganizationSummary]:
        return [
            OrganizationSummary(
                id=org.id,
                name=org.name,
                created_at=org.created_at,
                members=org.members,
                credits=self._billing.available_credits(org.id),
            )
            for org in self._accounts.organizations()
        ]

    def add_member(
        self, user_ref: str, org_id: str, *, role: str = "MEMBER", default: bool = False
    ) -> MemberInfo:
        """Add a user (by id or email) to an organization; returns the new membership."""
        self._accounts.add_member(user_ref, org_id, role=role, default=default)
        ref = user_ref.strip().lower()
        return next(
            m for m in self._accounts.members(org_id) if ref in (m.user_id.lower(), m.email)
        )

    def members(self, org_id: str) -> list[MemberInfo]:
        return self._accounts.members(org_id)

    def grant_credits(self, org_id: str, credits: float, *, note: str = "") -> float:
        """Add credits (a negative amount removes them); returns the new balance.

        A grant rounds up to the next thousandth, as prices do; a removal rounds to
        the nearest, so removing what was granted leaves nothing behind."""
        milli = round(credits * 1000) if credits < 0 else to_milli(credits)
        return self._billing.grant(org_id, milli, note=note)

    def credits(self, org_id: str, *, limit: int = 20) -> CreditsStatement:
        return CreditsStatement(
            available=self._billing.available_credits(org_id),
            ledger=self._billing.ledger(org_id, limit=limit),
        )
