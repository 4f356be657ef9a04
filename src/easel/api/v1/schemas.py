"""v1 response and request bodies, named as in Stability's v1 OpenAPI spec."""

from __future__ import annotations

from pydantic import BaseModel


class OrganizationMembership(BaseModel):
    id: str
    name: str
    role: str
    is_default: bool


class AccountResponseBody(BaseModel):
    id: str
    email: str
    profile_picture: str
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
