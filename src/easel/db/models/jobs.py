"""Generation jobs: every generation, sync or async, is one durable row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from easel.db.models.base import Base, utcnow


class Job(Base):
    __tablename__ = "jobs"
    # One idempotency key per API key; NULL keys never collide.
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    engine_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    params_hash: Mapped[str] = mapped_column(String(64))
    # The typed request (JSON) and the storage keys of its input images, so any
    # worker process can run the job from durable state alone.
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The lease: which worker holds the job, and until when. A worker renews it
    # while the job runs; recovery acts only once it has expired.
    owner: Mapped[str] = mapped_column(String(200), default="")
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    reservation_id: Mapped[str | None] = mapped_column(String(64), default=None)
    credits_reserved_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_charged_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    error_status: Mapped[int | None] = mapped_column(Integer, default=None)
    error_name: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    artifacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column(index=True)
