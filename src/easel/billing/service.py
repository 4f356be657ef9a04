"""Credit balances: grants, reservations, charges, all in the append-only ledger.

An organization's available credits are `balance - held`. `reserve` moves
credits into `held` with a conditional UPDATE, so two concurrent requests can
never both spend the same credits (on SQLite and PostgreSQL alike, without
row locks). `commit` charges the reservation: the balance drops and the
ledger gets a `charge` row in the same transaction. `release` only drops the
hold: nothing was charged, so the ledger is untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    cast,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningUpdate

from easel.billing.prices import MAX_BALANCE_MILLI, MAX_CREDITS, from_milli
from easel.db.engine import Database
from easel.db.ids import new_id
from easel.db.models import CreditLedgerEntry, CreditReservation, Organization
from easel.errors import Conflict, InvalidRequest, NotFound, PaymentRequired

# an UPDATE of at most one row, RETURNING the id of the reservation to charge
Claim = ReturningUpdate[str | None]
Closing = ReturningUpdate[str, int, str | None]
Settling = ReturningUpdate[str, int]

# A reservation's two statements, built once (each job's path runs them): hold the
# credits if the organization has them, then record the hold.
_HOLD = (
    update(Organization)
    .where(
        Organization.id == bindparam("org_id"),
        Organization.balance_milli - Organization.held_milli >= bindparam("milli"),
    )
    .values(held_milli=Organization.held_milli + bindparam("milli"))
)
_RESERVATION = insert(CreditReservation)
# an organization's balance less its holds (every balance request, every 402)
_AVAILABLE = select(Organization.balance_milli - Organization.held_milli).where(
    Organization.id == bindparam("org_id")
)
# Both as one part of a PostgreSQL statement that also writes what the credits are for
# (a job: see `JobStore.create`): it yields the reservation's id, or no row when the
# organization lacks the credits. Its parameters: `held_reservation`.
_HELD = _HOLD.returning(Organization.id).cte("held")
HELD_RESERVATION: CTE = (
    insert(CreditReservation)
    .from_select(
        # from_select leaves out Python-side defaults: every column is given
        ["id", "organization_id", "amount_milli", "request_id", "status", "created_at"],
        select(
            cast(bindparam("reservation"), CreditReservation.id.type),
            _HELD.c.id,
            cast(bindparam("milli"), CreditReservation.amount_milli.type),
            cast(bindparam("reserved_for"), CreditReservation.request_id.type),
            literal("held"),
            cast(bindparam("reserved_at"), CreditReservation.created_at.type),
        ),
    )
    .returning(CreditReservation.id)
    .cte("reserved")
)


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
        with self._db.statement() as connection:
            return from_milli(_available_milli(connection, org_id))

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
            connection = session.connection()
            balance = _settle(connection, org_id, held_milli=0, charge=-milli)
            _record(connection, org_id, milli, balance, "grant", request_id, note)
            return from_milli(balance)

    def reserve(
        self,
        org_id: str,
        milli: int,
        *,
        request_id: str | None = None,
        reservation_id: str | None = None,
        connection: Connection | None = None,
    ) -> Reservation:
        """Hold `milli` credits for a job, or refuse with 402 before any work.

        With `connection` (an ORM caller passes `session.connection()`), the hold
        joins the caller's transaction (a job and its reservation are created
        together, or not at all). `reservation_id`: the id the caller already gave
        it (a job row names its reservation as it is inserted).
        """
        with self._transaction(connection) as tx:
            held = tx.execute(_HOLD, {"org_id": org_id, "milli": milli})
            if held.rowcount != 1:
                raise self.insufficient(tx, org_id, milli)
            reservation_id = reservation_id or new_id("res")
            tx.execute(
                _RESERVATION,
                {
                    "id": reservation_id,
                    "organization_id": org_id,
                    "amount_milli": milli,
                    "request_id": request_id,
                },
            )
        return Reservation(id=reservation_id, organization_id=org_id, amount_milli=milli)

    def held_reservation(
        self, org_id: str, milli: int, *, reservation_id: str, request_id: str | None
    ) -> dict[str, Any]:
        """The parameters of `HELD_RESERVATION`: hold `milli` credits as `reservation_id`."""
        return {
            "org_id": org_id,
            "milli": milli,
            "reservation": reservation_id,
            "reserved_for": request_id,
            "reserved_at": datetime.now(UTC),
        }

    def insufficient(self, connection: Connection, org_id: str, milli: int) -> PaymentRequired:
        """The 402 of a hold of `milli` credits that the organization could not make."""
        available = _available_milli(connection, org_id)
        return PaymentRequired(
            f"Insufficient balance: this request costs {from_milli(milli):g} credits "
            f"and the organization has {from_milli(available):g} available."
        )

    def commit(
        self,
        reservation_id: str,
        *,
        milli: int | None = None,
        note: str = "",
        connection: Connection | None = None,
    ) -> int:
        """Charge a reservation (all of it, or `milli` of it if less); returns the charge.

        With `connection` (an ORM caller passes `session.connection()`), the charge
        joins the caller's transaction (a job's final state and its charge commit
        together). Three statements, each taking its row's lock: the reservation
        closes only if still held, so it can never be charged twice.
        """
        with self._transaction(connection) as tx:
            org_id, amount, request_id = _close(tx, reservation_id, "committed")
            charge = amount if milli is None else min(milli, amount)
            balance = _settle(tx, org_id, held_milli=amount, charge=charge)
            if charge:
                _record(tx, org_id, -charge, balance, "charge", request_id, note)
            return charge

    def commit_claimed(
        self,
        connection: Connection,
        claim: Claim,
        claim_params: Mapping[str, Any],
        *,
        note: str = "",
    ) -> int | None:
        """Run `claim` with `claim_params`, then charge in full the reservation it names,
        in the caller's transaction; returns the charge, or None if `claim` matched nothing.

        `claim` is an UPDATE of at most one row `RETURNING` the reservation id to
        charge (NULL: nothing to charge), such as a job's move to succeeded: the job
        and its charge commit together. On PostgreSQL the claim and the three
        statements of `commit` run as one statement (data-modifying CTEs), one round
        trip where a settle made four. So `claim` must not change the reservation or
        its organization: PostgreSQL makes only one change to a row per statement.
        Pass the same `claim` object each time (one built with bound parameters): the
        combined statement is built once per claim, and its parameters must not be
        named `note`, `now` or `settled_at`.
        """
        if connection.dialect.name != "postgresql":
            claimed = connection.execute(claim, dict(claim_params)).first()
            if claimed is None:
                return None
            if claimed[0] is None:
                return 0
            return self.commit(claimed[0], note=note, connection=connection)
        now = datetime.now(UTC)
        charged = connection.execute(
            _claim_and_commit(claim),
            {**claim_params, "note": note, "now": now, "settled_at": now},
        ).first()
        if charged is None:
            return None
        reservation_id, amount = charged
        if reservation_id is None:
            return 0
        if amount is None:  # as `commit` would, so the caller's transaction rolls back
            raise _not_held(connection, reservation_id)
        return int(amount)

    def release(self, reservation_id: str, *, connection: Connection | None = None) -> None:
        """Give a reservation back uncharged; releasing a settled one is a no-op."""
        with self._transaction(connection) as tx:
            try:
                org_id, amount, _ = _close(tx, reservation_id, "released")
            except (NotFound, Conflict):
                return
            _settle(tx, org_id, held_milli=amount, charge=0)

    @contextmanager
    def _transaction(self, connection: Connection | None) -> Iterator[Connection]:
        if connection is not None:
            yield connection
        else:
            with self._db.connection() as own:
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


def _available_milli(connection: Connection, org_id: str) -> int:
    """The organization's balance less its holds; NotFound if there is no such one."""
    available = connection.scalar(_AVAILABLE, {"org_id": org_id})
    if available is None:
        raise NotFound(f"organization {org_id} not found")
    return int(available)


def _close(connection: Connection, reservation_id: str, status: str) -> Row[str, int, str | None]:
    """Move a held reservation to `status`; its organization, amount and request id."""
    closed = connection.execute(
        _closing(reservation_id, status), {"settled_at": datetime.now(UTC)}
    ).first()
    if closed is not None:
        return closed
    raise _not_held(connection, reservation_id)


def _closing(reservation_id: str | ColumnElement[str], status: str) -> Closing:
    """The UPDATE that moves the reservation to `status` if it is still held, RETURNING
    its organization, amount and request id (`_close`, and the one-statement settle);
    the `settled_at` parameter is the time."""
    return (
        update(CreditReservation)
        .where(CreditReservation.id == reservation_id, CreditReservation.status == "held")
        .values(status=status, settled_at=bindparam("settled_at"))
        .returning(
            CreditReservation.organization_id,
            CreditReservation.amount_milli,
            CreditReservation.request_id,
        )
    )


def _not_held(connection: Connection, reservation_id: str) -> NotFound | Conflict:
    """Why a reservation could not be closed."""
    current = connection.scalar(
        select(CreditReservation.status).where(CreditReservation.id == reservation_id)
    )
    if current is None:
        return NotFound(f"reservation {reservation_id} not found")
    return Conflict(f"reservation {reservation_id} is already {current}")


@cache  # one per claim statement, which is built once (see `commit_claimed`)
def _claim_and_commit(claim: Claim) -> Select[str | None, int | None]:
    """`claim`, then `commit`'s three statements, as one PostgreSQL statement: the
    claimed id and the charge (NULL if the reservation was not held). Its parameters
    are the claim's, the ledger's `note`, and the time as `now` and `settled_at`."""
    claimed = claim.cte("claimed")
    reservation_id = claimed.c[0]
    # each row is found by its primary key (a scalar subquery, not a join the planner
    # might answer with a scan of every held reservation or every organization)
    closed = _closing(select(reservation_id).scalar_subquery(), "committed").cte("closed")
    amount = select(closed.c.amount_milli).scalar_subquery()
    settled = _settling(
        select(closed.c.organization_id).scalar_subquery(), held_milli=amount, charge=amount
    ).cte("settled")
    recorded = (
        insert(CreditLedgerEntry)
        .from_select(
            [
                "organization_id",
                "kind",
                "delta_milli",
                "balance_after_milli",
                "request_id",
                "note",
                "created_at",  # from_select leaves out Python-side defaults
            ],
            select(
                settled.c.id,
                literal("charge"),
                -closed.c.amount_milli,
                settled.c.balance_milli,
                closed.c.request_id,
                bindparam("note", type_=CreditLedgerEntry.note.type),
                bindparam("now", type_=CreditLedgerEntry.created_at.type),
            )
            .select_from(settled.join(closed, settled.c.id == closed.c.organization_id))
            .where(closed.c.amount_milli > 0),
        )
        .cte("recorded")
    )
    return (
        select(reservation_id, closed.c.amount_milli)
        .select_from(claimed.outerjoin(closed, true()))
        .add_cte(recorded)  # data-modifying: it runs though nothing reads it
    )


def _settle(connection: Connection, org_id: str, *, held_milli: int, charge: int) -> int:
    """Drop a hold and take `charge` from the balance in one statement (a job's
    settle is on every generation's path); returns the balance."""
    balance: int = (
        connection.execute(_settling(org_id, held_milli=held_milli, charge=charge))
        .one()
        .balance_milli
    )
    return balance


def _settling(
    org_id: str | ColumnElement[str],
    *,
    held_milli: int | ColumnElement[int],
    charge: int | ColumnElement[int],
) -> Settling:
    """The UPDATE that drops the organization's hold by `held_milli` and its balance by
    `charge`, RETURNING its id and new balance (`_settle`, and the one-statement settle)."""
    return (
        update(Organization)
        .where(Organization.id == org_id)
        .values(
            held_milli=Organization.held_milli - held_milli,
            balance_milli=Organization.balance_milli - charge,
        )
        .returning(Organization.id, Organization.balance_milli)
    )


def _record(
    connection: Connection,
    org_id: str,
    milli: int,
    balance: int,
    kind: str,
    request_id: str | None,
    note: str,
) -> None:
    connection.execute(
        insert(CreditLedgerEntry).values(
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
