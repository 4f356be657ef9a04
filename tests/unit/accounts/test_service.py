"""The accounts service on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from easel.accounts import keys
from easel.accounts.service import AccountsService
from easel.db.engine import Database
from easel.db.models import ApiKey
from easel.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, Unauthorized


def test_first_membership_is_default_and_default_can_move(accounts: AccountsService) -> None:
    user = accounts.create_user("Ada@Example.com")
    first = accounts.create_organization("First")
    second = accounts.create_organization("Second")
    accounts.add_member(user, first, role="owner")
    accounts.add_member("ada@example.com", second)

    orgs = {o.id: o for o in accounts.account(user).organizations}
    assert orgs[first].is_default and not orgs[second].is_default
    assert orgs[first].role == "OWNER" and orgs[second].role == "MEMBER"

    third = accounts.create_organization("Third")
    accounts.add_member(user, third, default=True)
    defaults = [o.id for o in accounts.account(user).organizations if o.is_default]
    assert defaults == [third]


def test_duplicate_email_and_membership_conflict(accounts: AccountsService) -> None:
    user = accounts.create_user("bob@example.com")
    org = accounts.create_organization("Org")
    accounts.add_member(user, org)
    with pytest.raises(Conflict):
        accounts.create_user("BOB@example.com")
    with pytest.raises(Conflict):
        accounts.add_member(user, org)


def test_bad_inputs_are_refused(accounts: AccountsService) -> None:
    user = accounts.create_user("c@example.com")
    with pytest.raises(InvalidRequest):
        accounts.create_user("not-an-email")
    with pytest.raises(InvalidRequest):
        accounts.create_organization("   ")
    with pytest.raises(InvalidRequest):
        accounts.add_member(user, "org-x", role="KING")
    with pytest.raises(NotFound):
        accounts.add_member(user, "org-does-not-exist")
    with pytest.raises(NotFound):
        accounts.add_member("nobody@example.com", "org-x")


def test_key_secret_is_never_stored(accounts: AccountsService, database: Database) -> None:
    user = accounts.create_user("d@example.com")
    created = accounts.create_key(user, name="laptop")
    assert created.secret.startswith("sk-") and len(created.secret) > 40
    assert created.info.prefix == created.secret[:10]
    with database.session() as session:
        row = session.get(ApiKey, created.info.id)
        assert row is not None
        assert row.key_hash == keys.hash_secret(created.secret)
        assert created.secret not in (row.key_hash, row.prefix, row.name)


def test_authenticate_picks_default_or_requested_org(accounts: AccountsService) -> None:
    user = accounts.create_user("e@example.com")
    home = accounts.create_organization("Home")
    work = accounts.create_organization("Work")
    other = accounts.create_organization("Somebody else's")
    accounts.add_member(user, home)
    accounts.add_member(user, work)
    secret = accounts.create_key(user).secret

    assert accounts.authenticate(secret).organization_id == home
    assert accounts.authenticate(secret, work).organization_id == work
    with pytest.raises(PermissionDenied):
        accounts.authenticate(secret, other)
    with pytest.raises(PermissionDenied):
        accounts.authenticate(secret, "org-'; DROP TABLE users; --")


def test_unknown_and_revoked_keys_are_unauthorized(accounts: AccountsService) -> None:
    user = accounts.create_user("f@example.com")
    org = accounts.create_organization("Org")
    accounts.add_member(user, org)
    created = accounts.create_key(user)
    principal = accounts.authenticate(created.secret)
    assert principal.api_key_id == created.info.id

    with pytest.raises(Unauthorized):
        accounts.authenticate(created.secret + "x")
    revoked = accounts.revoke_key(created.info.prefix)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthorized):
        accounts.authenticate(created.secret)
    # revoking again is harmless and keeps the first timestamp
    assert accounts.revoke_key(created.info.id).revoked_at == revoked.revoked_at


def test_authenticate_records_nothing_without_a_recorder(accounts: AccountsService) -> None:
    user = accounts.create_user("g@example.com")
    org = accounts.create_organization("Org")
    accounts.add_member(user, org)
    created = accounts.create_key(user)
    assert accounts.list_keys(user)[0].last_used_at is None
    accounts.authenticate(created.secret)
    # the app records it through a KeyUsageRecorder: test_key_usage.py
    assert accounts.list_keys(user)[0].last_used_at is None


def test_user_without_organization_is_denied(accounts: AccountsService) -> None:
    user = accounts.create_user("h@example.com")
    secret = accounts.create_key(user).secret
    with pytest.raises(PermissionDenied):
        accounts.authenticate(secret)
