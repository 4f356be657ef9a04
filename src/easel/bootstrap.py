"""First start: an admin user, a default organization with credits, and one API key.

It spans accounts and billing, so it sits beside the composition root, above both."""

from __future__ import annotations

from easel.accounts.models import CreatedApiKey
from easel.accounts.service import AccountsService
from easel.billing.prices import to_milli
from easel.billing.service import BillingService

BOOTSTRAP_KEY_NAME = "bootstrap"


def bootstrap_admin(
    accounts: AccountsService, billing: BillingService, *, email: str, credits: float
) -> CreatedApiKey | None:
    """Create the first user, org and key if the database has no users yet."""
    if accounts.has_users():
        return None
    user_id = accounts.create_user(email, is_admin=True)
    org_id = accounts.create_organization("Default organization")
    accounts.add_member(user_id, org_id, role="OWNER", default=True)
    if credits > 0:
        billing.grant(org_id, to_milli(credits), note="bootstrap grant")
    return accounts.create_key(user_id, name=BOOTSTRAP_KEY_NAME)
