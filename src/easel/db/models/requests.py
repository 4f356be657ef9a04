"""The request log: who called what, how it went, what it cost. Never prompts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from easel.db.models.base import Base, utcnow


class RequestLogEntry(Base):
    __tablename__ = "request_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    organization_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    client_id: Mapped[str | None] = mapped_column(String(256), default=None)
    client_version: Mapped[str | None] = mapped_column(String(256), default=None)
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(256))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    credits_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
