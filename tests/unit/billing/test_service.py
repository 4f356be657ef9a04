"""Credits: grants, reservations, charges and the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import String, bindparam, cast, select, update

from easel.accounts.service import AccountsService
from easel.billing.service import BillingService
from easel.db.engine import Database
from easel.db.models import CreditLedgerEntry, User
from easel.errors import Conflict, InvalidRequest, PaymentRequired


@pytest.fixture
def org(accounts: AccountsService) -> str:
    return accounts.create_organization("Billing org")


def test_grant_changes_balance_with_a_ledger_row(billing: BillingService, org: str) -> None:
    assert billing.available_credits(org) == 0
    assert billing.grant(org, 10_500, note="welcome") == 10.5
    (entry,) = billing.ledger(org)
    assert (entry.kind, entry.credits, entry.balance_after, entry.note) == (
        "grant",
        10.5,
        10.5,
        "welcome",
    )


def test_a_balance_holds_at_most_max_credits(billing: BillingService, org: str) -> None:
    from easel.billing.prices import MAX_BALANCE_MILLI

    billing.grant(org, MAX_BALANCE_MILLI - 1_000)
    assert billing.grant(org, 1_000) == MAX_BALANCE_MILLI / 1000  # exactly to the cap
    with pytest.raises(InvalidRequest, match="a balance holds at most"):
        billing.grant(org, 1)
    assert billing.available_credits(org) == MAX_BALANCE_MILLI / 1000
    assert [e.kind for e in billing.ledger(org)] == ["grant", "grant"]


def test_reserve_commit_charges_once(billing: BillingService, org: str) -> None:
    billing.grant(org, 10_000)
    reservation = billing.reserve(org, 2_500, request_id="req-1")
    assert billing.available_credits(org) == 7.5  # held, not yet charged
    billing.commit(reservation.id)
    assert billing.available_credits(org) == 7.5
    charge = billing.ledger(org)[0]
    assert (charge.kind, charge.credits, charge.request_id) == ("charge", -2.5, "req-1")
    with pytest.raises(Conflict):
        billing.commit(reservation.id)
    assert billing.available_credits(org) == 7.5


def test_commit_can_charge_less_than_reserved(billing: BillingService, org: str) -> None:
    billing.grant(org, 10_000)
    reservation = billing.reserve(org, 3_000)
    billing.commit(reservation.id, milli=1_000)
    assert billing.available_credits(org) == 9.0


def test_release_charges_nothing(billing: BillingService, org: str) -> None:
    billing.grant(org, 5_000)
    reservation = billing.reserve(org, 5_000)
    assert billing.available_credits(org) == 0
    billing.release(reservation.id)
    billing.release(reservation.id)  # idempotent
    assert billing.available_credits(org) == 5.0
    assert [e.kind for e in billing.ledger(org)] == ["grant"]


def test_reserve_over_balance_is_refused(billing: BillingService, org: str) -> None:
    billing.grant(org, 1_000)
    with pytest.raises(PaymentRequired) as raised:
        billing.reserve(org, 1_001)
    assert raised.value.status == 402
    assert billing.available_credits(org) == 1.0


def test_concurrent_reservations_never_overspend(billing: BillingService, org: str) -> None:
    billing.grant(org, 10_000)

    def attempt(_: int) -> bool:
        try:
            billing.reserve(org, 1_000)
        except PaymentRequired:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(30)))
    assert sum(results) == 10
    assert billing.available_credits(org) == 0


def test_grant_refuses_zero_and_overdraw(billing: BillingService, org: str) -> None:
    with pytest.raises(InvalidRequest):
        billing.grant(org, 0)
    billing.grant(org, 1_000)
    with pytest.raises(InvalidRequest):
        billing.grant(org, -2_000)
    assert billing.grant(org, -1_000) == 0


def test_daily_spend_sums_charges_per_utc_day_with_zero_days(
    billing: BillingService, org: str
) -> None:
    billing.grant(org, 100_000)
    for milli in (1_500, 2_000):
        billing.commit(billing.reserve(org, milli).id)
    today = datetime.now(UTC).date()
    # a charge three days ago, and one older than the window
    with billing._db.session() as session:
        for days_ago, milli in ((2, 4_000), (9, 8_000)):
            session.add(
                CreditLedgerEntry(
                    organization_id=org,
                    kind="charge",
                    delta_milli=-milli,
                    balance_after_milli=0,
                    created_at=datetime.now(UTC) - timedelta(days=days_ago),
                )
            )
    spend = billing.daily_spend(org, days=5, today=today)
    assert [s.day for s in spend] == [today - timedelta(days=n) for n in range(4, -1, -1)]
    assert [s.credits for s in spend] == [0, 0, 4.0, 0, 3.5]


# -- commit_claimed: a job's settle and its charge (one statement on PostgreSQL) ---------


@pytest.fixture
def user(accounts: AccountsService) -> str:
    return accounts.create_user("claims@example.com")


# A claim as a job's settle makes one, built once with bound parameters: an UPDATE of
# one row (here a user's picture, so the test can see whether it committed) RETURNING
# the reservation to charge.
CLAIM = (
    update(User)
    .where(User.id == bindparam("claimant"))
    .values(profile_picture=User.profile_picture + "+")
    .returning(cast(bindparam("reservation"), String()))
)


def claim(user: str, reservation_id: str | None) -> dict[str, Any]:
    """The parameters of a claim of `user` naming `reservation_id`."""
    return {"claimant": user, "reservation": reservation_id}


def claims(database: Database, user: str) -> int:
    """How many claims on `user` committed."""
    with database.statement() as connection:
        return len(connection.scalar(select(User.profile_picture).where(User.id == user)) or "")


def test_a_claim_and_the_charge_of_its_reservation_commit_together(
    billing: BillingService, database: Database, org: str, user: str
) -> None:
    billing.grant(org, 10_000)
    held = billing.reserve(org, 3_000, request_id="req-1")
    with database.connection() as connection:
        charged = billing.commit_claimed(connection, CLAIM, claim(user, held.id), note="a job")
    assert charged == 3_000
    assert billing.available_credits(org) == 7
    entry = billing.ledger(org)[0]
    assert (entry.kind, entry.credits, entry.balance_after) == ("charge", -3, 7)
    assert (entry.request_id, entry.note) == ("req-1", "a job")
    assert entry.created_at is not None
    assert claims(database, user) == 1
    with pytest.raises(Conflict), database.connection() as connection:  # never twice
        billing.commit_claimed(connection, CLAIM, claim(user, held.id))
    assert billing.available_credits(org) == 7
    assert claims(database, user) == 1  # the second claim rolled back with it


def test_a_claim_that_matches_nothing_charges_nothing(
    billing: BillingService, database: Database, org: str, user: str
) -> None:
    billing.grant(org, 10_000)
    held = billing.reserve(org, 3_000)
    with database.connection() as connection:
        assert billing.commit_claimed(connection, CLAIM, claim("user-nobody", held.id)) is None
        # a claimed row that names no reservation: nothing to charge
        assert billing.commit_claimed(connection, CLAIM, claim(user, None)) == 0
    assert billing.available_credits(org) == 7  # still held, not charged
    assert [entry.kind for entry in billing.ledger(org)] == ["grant"]
    billing.release(held.id)
    assert billing.available_credits(org) == 10
