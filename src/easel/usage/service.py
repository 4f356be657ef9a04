"""Writes and reads the request log.

Rows are written in batches off the request path: `record` only queues the
row (with its time), and a background thread inserts everything queued in one
statement every `interval` seconds, and once more on shutdown. A write and its
thread hop per request had been a quarter of a sequential authenticated
request's time, spent before the connection could take its next request. A
crash loses at most `interval` seconds of the log; credits live in the ledger,
never here. Reading (`recent`) writes what is queued first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import insert, select

from easel.background import QueuedWriter
from easel.db.engine import Database
from easel.db.models import RequestLogEntry
from easel.ratelimit.bucket import TokenBuckets


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    method: str
    route: str
    status: int
    latency_ms: float
    api_key_id: str | None = None
    organization_id: str | None = None
    client_id: str | None = None
    client_version: str | None = None
    credits_milli: int = 0
    created_at: datetime | None = None


log = logging.getLogger("easel.usage")

FLUSH_INTERVAL_SECONDS = 1.0
# rows kept while the database refuses them; beyond this, new rows are dropped
MAX_QUEUED = 100_000


class UsageService(QueuedWriter[RequestRecord]):
    """The request log. Rows for requests without a valid key are rationed by
    `unauthenticated` (one token a row), so a flood of bogus keys cannot grow the
    table without bound; /metrics still counts every request."""

    def __init__(
        self,
        db: Database,
        *,
        unauthenticated: TokenBuckets | None = None,
        interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(
            interval,
            name="easel-request-log",
            log=log,
            lost="request log: %d rows lost at shutdown",
            max_queued=MAX_QUEUED,
            dropped="request log: %d rows dropped while the database refused writes",
        )
        self._db = db
        self._unauthenticated = unauthenticated

    def record(self, entry: RequestRecord) -> bool:
        """Queue `entry` for the next write; False when it was rationed or dropped."""
        if (
            entry.api_key_id is None
            and self._unauthenticated is not None
            and self._unauthenticated.take("") > 0
        ):
            return False
        stamped = entry if entry.created_at else replace(entry, created_at=datetime.now(UTC))
        return self.add(stamped)

    def write(self, items: list[RequestRecord]) -> None:
        """Insert the queued rows in one statement."""
        with self._db.session() as session:
            session.execute(insert(RequestLogEntry), [_row(entry) for entry in items])

    def recent(
        self, *, limit: int = 100, organization_id: str | None = None
    ) -> list[RequestRecord]:
        self.flush()
        with self._db.session() as session:
            query = select(RequestLogEntry).order_by(RequestLogEntry.id.desc()).limit(limit)
            if organization_id is not None:
                query = query.where(RequestLogEntry.organization_id == organization_id)
            return [
                RequestRecord(
                    request_id=row.request_id,
                    method=row.method,
                    route=row.route,
                    status=row.status,
                    latency_ms=row.latency_ms,
                    api_key_id=row.api_key_id,
                    organization_id=row.organization_id,
                    client_id=row.client_id,
                    client_version=row.client_version,
                    credits_milli=row.credits_milli,
                    created_at=row.created_at,
                )
                for row in session.scalars(query).all()
            ]


def _row(entry: RequestRecord) -> dict[str, object]:
    return {
        "request_id": entry.request_id,
        "method": entry.method,
        "route": entry.route[:256],
        "status": entry.status,
        "latency_ms": entry.latency_ms,
        "api_key_id": entry.api_key_id,
        "organization_id": entry.organization_id,
        "client_id": (entry.client_id or None) and entry.client_id[:256],
        "client_version": (entry.client_version or None) and entry.client_version[:256],
        "credits_milli": entry.credits_milli,
        "created_at": entry.created_at,
    }
