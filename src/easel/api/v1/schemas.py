"""v1 response and request bodies, named as in Stability's v1 OpenAPI spec."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class OrganizationMembership(BaseModel):
    id: str
    name: str
    role: str
    is_default: bool


class AccountResponseBody(BaseModel):
    id: str
    email: str
    # Optional in the spec and `format: uri` there: omitted rather than sent empty.
    profile_picture: str | None = None
    organizations: list[OrganizationMembership]


class BalanceResponseBody(BaseModel):
    credits: float


class Engine(BaseModel):
    id: str
    name: str
    description: str
    type: str


class EnginePricing(BaseModel):
    """easel's extension: what `estimate_credits` needs to price a request."""

    engine_id: str
    kind: str
    credits_per_image: float
    base_pixels: int
    base_steps: int


class GenerationError(BaseModel):
    name: str
    message: str


class GenerationStatus(BaseModel):
    """easel's extension: one generation job as its owner sees it."""

    id: str
    status: str
    progress: float
    engine_id: str
    kind: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    credits_reserved: float
    credits_charged: float
    artifacts: int
    error: GenerationError | None
