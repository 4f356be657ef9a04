"""Reusing recent authentications: for how long, for which key and organization, and
what forgets them. The service tests run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from easel.accounts.key_usage import KeyUsageRecorder
from easel.accounts.models import Principal
from easel.accounts.principal_cache import PrincipalCache
from easel.accounts.service import AccountsService
from easel.db.engine import Database
from easel.errors import Unauthorized


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def principal(key_id: str = "key-1", org: str = "org-1") -> Principal:
    return Principal(api_key_id=key_id, user_id="user-1", organization_id=org, is_admin=False)


def test_an_entry_lives_for_its_seconds_and_no_longer() -> None:
    clock = Clock()
    cache = PrincipalCache(1.0, clock=clock)
    cache.put("hash", None, principal(), generation=cache.generation)
    clock.now += 0.99
    assert cache.get("hash", None) == principal()
    clock.now += 0.01
    assert cache.get("hash", None) is None


def test_the_organization_header_is_part_of_the_key() -> None:
    cache = PrincipalCache(1.0, clock=Clock())
    cache.put("hash", "org-2", principal(org="org-2"), generation=cache.generation)
    assert cache.get("hash", None) is None
    assert cache.get("other", "org-2") is None
    assert cache.get("hash", "org-2") == principal(org="org-2")


def test_the_oldest_entry_goes_first_when_full() -> None:
    cache = PrincipalCache(1.0, max_entries=2, clock=Clock())
    for name in ("a", "b", "c"):
        cache.put(name, None, principal(name), generation=cache.generation)
    assert cache.get("a", None) is None
    assert cache.get("b", None) == principal("b")
    assert cache.get("c", None) == principal("c")


def test_an_answer_read_before_a_clear_is_not_kept() -> None:
    """A lookup that raced a revocation must not put the key back."""
    cache = PrincipalCache(1.0, clock=Clock())
    before = cache.generation
    cache.clear()
    cache.put("hash", None, principal(), generation=before)
    assert cache.get("hash", None) is None


def test_zero_seconds_keeps_nothing() -> None:
    cache = PrincipalCache(0.0, clock=Clock())
    cache.put("hash", None, principal(), generation=cache.generation)
    assert not cache.enabled
    assert cache.get("hash", None) is None


# -- through the accounts service ---------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


class UsageClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def usage_clock() -> UsageClock:
    return UsageClock()


@pytest.fixture
def key_usage(database: Database, usage_clock: UsageClock) -> Iterator[KeyUsageRecorder]:
    recorder = KeyUsageRecorder(database, clock=usage_clock)
    yield recorder
    recorder.close()


@pytest.fixture
def cached(database: Database, clock: Clock, key_usage: KeyUsageRecorder) -> AccountsService:
    return AccountsService(
        database, key_usage=key_usage, principal_cache=PrincipalCache(1.0, clock=clock)
    )


def member_key(accounts: AccountsService, email: str = "ada@example.com") -> tuple[str, str]:
    user = accounts.create_user(email)
    org = accounts.create_organization("Org")
    accounts.add_member(user, org)
    return accounts.create_key(user).secret, org


def test_only_a_successful_authentication_is_reused(cached: AccountsService) -> None:
    secret, org = member_key(cached)
    assert cached.cached_principal(secret) is None
    with pytest.raises(Unauthorized):
        cached.authenticate(secret + "x")
    assert cached.cached_principal(secret + "x") is None

    found = cached.authenticate(secret)
    assert found.organization_id == org
    assert cached.cached_principal(secret) == found
    assert cached.cached_principal(secret, org) is None  # asked with another header


def test_a_reused_authentication_still_records_the_keys_use(
    cached: AccountsService, key_usage: KeyUsageRecorder, usage_clock: UsageClock
) -> None:
    secret, _ = member_key(cached)
    found = cached.authenticate(secret)
    usage_clock.now += timedelta(minutes=5)
    assert cached.cached_principal(secret) == found
    key_usage.flush()
    [info] = cached.list_keys()
    assert info.last_used_at is not None
    assert info.last_used_at.replace(tzinfo=UTC) == usage_clock.now


def test_revoking_through_the_service_forgets_at_once(cached: AccountsService) -> None:
    secret, _ = member_key(cached)
    found = cached.authenticate(secret)
    cached.revoke_user_key(found.user_id, found.api_key_id)
    assert cached.cached_principal(secret) is None
    with pytest.raises(Unauthorized):
        cached.authenticate(secret)

    other, _ = member_key(cached, "bob@example.com")
    cached.authenticate(other)
    cached.revoke_key(cached.list_keys()[-1].id)
    assert cached.cached_principal(other) is None


def test_a_new_membership_forgets_the_default_organization(cached: AccountsService) -> None:
    secret, first = member_key(cached)
    user = cached.authenticate(secret).user_id
    second = cached.create_organization("Second")
    cached.add_member(user, second, default=True)
    assert cached.cached_principal(secret) is None
    assert cached.authenticate(secret).organization_id == second != first


def test_a_revocation_elsewhere_is_honoured_after_cache_seconds(
    cached: AccountsService, database: Database, clock: Clock
) -> None:
    """Another process (the admin CLI, another API process) cannot clear this cache:
    its answer stands for `cache_seconds`, then the database decides."""
    secret, _ = member_key(cached)
    found = cached.authenticate(secret)
    AccountsService(database).revoke_user_key(found.user_id, found.api_key_id)

    clock.now += 0.5
    assert cached.cached_principal(secret) == found
    clock.now += 0.5
    assert cached.cached_principal(secret) is None
    with pytest.raises(Unauthorized):
        cached.authenticate(secret)
