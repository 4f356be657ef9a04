"""Credit balances: grants, reservations, charges, all in the append-only ledger.

An organization's available credits are `balance - held`. `reserve` moves
credits into `held` with a conditional UPDATE, so two concurrent requests can
never both spend the same credits (on SQLite and PostgreSQL alike, without
row locks). `commit` charges the reservation: the balance drops and the
ledger gets a `charge` row in the same transaction. `release` only drops the
hold: nothing was charged, so the ledger is untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from easel.billing.prices import MAX_BALANCE_MILLI, MAX_CREDITS, from_milli
from easel.db.engine import Database
from easel.db.ids import new_id
from easel.db.models import CreditLedgerEntry, CreditReservation, Organization
from easel.errors import Conflict, InvalidRequest, NotFound, PaymentRequired


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    kind: str
    credits: float
    balance_after: float
    request_id: str | None
    note: str
    created_at: datetime


@dataclass(frozen=True)
class DailySpend:
    day: date
    credits: float


@dataclass(frozen=True)
class Reservation:
    id: str
    organization_id: str
    amount_milli: int


class BillingService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def available_credits(self, org_id: str) -> float:
        with self._db.connection() as connection:
            row = connection.execute(
                select(Organization.balance_milli, Organization.held_milli).where(
                    Organization.id == org_id
                )
            ).first()
        if row is None:
            raise NotFound(f"organization {org_id} not found")
        return from_milli(row.balance_milli - row.held_milli)

    def grant(
        self, org_id: str, milli: int, *, note: str = "", request_id: str | None = None
    ) -> float:
        """Add (or, with a negative amount, remove) credits; returns the new balance."""
        if milli == 0:
            raise InvalidRequest("credits: must not be zero")
        with self._db.session() as session:
            org = _org(session, org_id)
            if milli < 0 and org.balance_milli - org.held_milli + milli < 0:
                raise InvalidRequest("credits: would make the balance negative")
            if org.balance_milli + milli > MAX_BALANCE_MILLI:
                raise InvalidRequest(
                    f"credits: a balance holds at most {MAX_CREDITS:,} credits", param="credits"
                )
            balance = self._move(session, org_id, milli, "grant", request_id, note)
            return from_milli(balance)

    def reserve(
        self,
        org_id: str,
        milli: int,
        *,
        request_id: str | None = None,
        session: Session | None = None,
    ) -> Reservation:
        """Hold `milli` credits for a job, or refuse with 402 before any work.

        With `session`, the hold joins the caller's transaction (a job and its
        reservation are created together, or not at all).
        """
        with self._transaction(session) as tx:
            held = tx.execute(
                update(Organization)
                .where(
                    Organization.id == org_id,
                    Organization.balance_milli - Organization.held_milli >= milli,
                )
                .values(held_milli=Organization.held_milli + milli)
            )
            if held.rowcount != 1:  # type: ignore[attr-defined]
                org = _org(tx, org_id)
                raise PaymentRequired(
                    f"Insufficient balance: this request costs {from_milli(milli):g} credits "
                    f"and the organization has "
                    f"{from_milli(org.balance_milli - org.held_milli):g} available."
                )
            reservation = CreditReservation(
                id=new_id("res"), organization_id=org_id, amount_milli=milli, request_id=request_id
            )
            tx.add(reservation)
            tx.flush()
        return Reservation(id=reservation.id, organization_id=org_id, amount_milli=milli)

    def commit(
        self,
        reservation_id: str,
        *,
        milli: int | None = None,
        note: str = "",
        session: Session | None = None,
    ) -> int:
        """Charge a reservation (all of it, or `milli` of it if less); returns the charge.

        With `session`, the charge joins the caller's transaction (a job's final
        state and its charge commit together).
        """
        with self._transaction(session) as tx:
            res = self._open_reservation(tx, reservation_id)
            charge = res.amount_milli if milli is None else min(milli, res.amount_milli)
            balance = self._settle(tx, res, "committed", charge_milli=charge)
            if charge:
                _record(tx, res.organization_id, -charge, balance, "charge", res.request_id, note)
            return charge

    def release(self, reservation_id: str, *, session: Session | None = None) -> None:
        """Give a reservation back uncharged; releasing a settled one is a no-op."""
        with self._transaction(session) as tx:
            res = tx.get(CreditReservation, reservation_id, with_for_update=True)
            if res is None or res.status != "held":
                return
            self._settle(tx, res, "released")

    @contextmanager
    def _transaction(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self._db.session() as own:
                yield own

    def ledger(self, org_id: str, *, limit: int = 100) -> list[LedgerEntry]:
        with self._db.session() as session:
            _org(session, org_id)
            rows = session.scalars(
                select(CreditLedgerEntry)
                .where(CreditLedgerEntry.organization_id == org_id)
                .order_by(CreditLedgerEntry.id.desc())
                .limit(limit)
            ).all()
            return [
                LedgerEntry(
                    id=row.id,
                    kind=row.kind,
                    credits=from_milli(row.delta_milli),
                    balance_after=from_milli(row.balance_after_milli),
                    request_id=row.request_id,
                    note=row.note,
                    created_at=row.created_at,
                )
                for row in rows
            ]

    def daily_spend(self, org_id: str, *, days: int, today: date | None = None) -> list[DailySpend]:
        """Credits charged per UTC day over the last `days` days (today included), oldest
        first, with a zero for each day without charges."""
        last = today or datetime.now(UTC).date()
        first = last - timedelta(days=days - 1)
        totals = {first + timedelta(days=n): 0 for n in range(days)}
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        with self._db.session() as session:
            _org(session, org_id)
            rows = session.execute(
                select(CreditLedgerEntry.created_at, CreditLedgerEntry.delta_milli).where(
                    CreditLedgerEntry.organization_id == org_id,
                    CreditLedgerEntry.kind == "charge",
                    CreditLedgerEntry.created_at >= since,
                )
            ).all()
        for created_at, delta in rows:
            day = created_at.date()
            if day in totals:
                totals[day] -= delta  # charges are negative movements
        return [DailySpend(day=day, credits=from_milli(milli)) for day, milli in totals.items()]

    @staticmethod
    def _open_reservation(session: Session, reservation_id: str) -> CreditReservation:
        res = session.get(CreditReservation, reservation_id, with_for_update=True)
        if res is None:
            raise NotFound(f"reservation {reservation_id} not found")
        if res.status != "held":
            raise Conflict(f"reservation {reservation_id} is already {res.status}")
        return res

    @staticmethod
    def _settle(
        session: Session, res: CreditReservation, status: str, *, charge_milli: int = 0
    ) -> int:
        """Close the reservation and take `charge_milli` from the balance in one
        statement (a job's settle is on every generation's path); returns the balance."""
        res.status = status
        res.settled_at = datetime.now(UTC)
        return session.execute(
            update(Organization)
            .where(Organization.id == res.organization_id)
            .values(
                held_milli=Organization.held_milli - res.amount_milli,
                balance_milli=Organization.balance_milli - charge_milli,
            )
            .returning(Organization.balance_milli)
        ).scalar_one()

    @staticmethod
    def _move(
        session: Session, org_id: str, milli: int, kind: str, request_id: str | None, note: str
    ) -> int:
        balance = session.execute(
            update(Organization)
            .where(Organization.id == org_id)
            .values(balance_milli=Organization.balance_milli + milli)
            .returning(Organization.balance_milli)
        ).scalar_one()
        _record(session, org_id, milli, balance, kind, request_id, note)
        return balance


def _record(
    session: Session,
    org_id: str,
    milli: int,
    balance: int,
    kind: str,
    request_id: str | None,
    note: str,
) -> None:
    session.add(
        CreditLedgerEntry(
            organization_id=org_id,
            kind=kind,
            delta_milli=milli,
            balance_after_milli=balance,
            request_id=request_id,
            note=note,
        )
    )


def _org(session: Session, org_id: str) -> Organization:
    org = session.get(Organization, org_id, populate_existing=True)
    if org is None:
        raise NotFound(f"organization {org_id} not found")
    return org
