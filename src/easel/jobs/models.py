"""What the job layer hands to its callers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Artifact:
    key: str
    seed: int
    finish_reason: str
    media_type: str = "image/png"


@dataclass(frozen=True)
class JobView:
    id: str
    organization_id: str
    api_key_id: str
    request_id: str
    engine_id: str
    kind: str
    status: JobStatus
    progress: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    credits_reserved_milli: int
    credits_charged_milli: int
    error_status: int | None
    error_name: str | None
    error_message: str | None
    artifacts: list[Artifact]
    params_hash: str
    params: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES
