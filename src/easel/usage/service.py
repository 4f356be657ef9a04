"""Writes and reads the request log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

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


class UsageService:
    """The request log. Rows for requests without a valid key are rationed by
    `unauthenticated` (one token a row), so a flood of bogus keys cannot grow the
    table without bound; /metrics still counts every request."""

    def __init__(self, db: Database, *, unauthenticated: TokenBuckets | None = None) -> None:
        self._db = db
        self._unauthenticated = unauthenticated

    def record(self, entry: RequestRecord) -> bool:
        """Write `entry`; False when it was rationed out."""
        if (
            entry.api_key_id is None
            and self._unauthenticated is not None
            and self._unauthenticated.take("") > 0
        ):
            return False
        with self._db.session() as session:
            session.add(
                RequestLogEntry(
                    request_id=entry.request_id,
                    method=entry.method,
                    route=entry.route[:256],
                    status=entry.status,
                    latency_ms=entry.latency_ms,
                    api_key_id=entry.api_key_id,
                    organization_id=entry.organization_id,
                    client_id=(entry.client_id or None) and entry.client_id[:256],
                    client_version=(entry.client_version or None) and entry.client_version[:256],
                    credits_milli=entry.credits_milli,
                )
            )
        return True

    def recent(
        self, *, limit: int = 100, organization_id: str | None = None
    ) -> list[RequestRecord]:
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
