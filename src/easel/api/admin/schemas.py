"""`/admin` request and response bodies (easel's own API; no Stability counterpart)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from easel.accounts.models import ROLES, Role
from easel.billing.prices import MAX_CREDITS


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Organization(BaseModel):
    id: str
    name: str
    created_at: datetime
    members: int = Field(description="How many users belong to the organization.")
    credits: float = Field(description="Credits available now (balance less holds).")


class CreateOrganizationRequestBody(_Body):
    name: str = Field(
        min_length=1, max_length=200, description="The organization's name.", examples=["Design"]
    )


class Member(BaseModel):
    user_id: str
    email: str
    role: Role
    is_default: bool = Field(description="Whether this is the user's default organization.")


class AddMemberRequestBody(_Body):
    user: str = Field(
        min_length=1, max_length=320, description="The user's id or email.", examples=["a@b.co"]
    )
    role: Role = Field(default="MEMBER", description=f"One of {', '.join(ROLES)}.")
    default: bool = Field(default=False, description="Make it the user's default organization.")


class CreateUserRequestBody(_Body):
    email: str = Field(
        min_length=3, max_length=320, description="The user's email.", examples=["ada@example.com"]
    )
    is_admin: bool = Field(default=False, description="Make the user an administrator.")


class User(BaseModel):
    id: str
    email: str


class GrantCreditsRequestBody(_Body):
    credits: float = Field(
        description="Credits to add; a negative amount removes them.",
        examples=[100],
        ge=-MAX_CREDITS,
        le=MAX_CREDITS,
    )
    note: str = Field(default="", max_length=500, description="Why; kept in the ledger.")


class LedgerEntry(BaseModel):
    id: int
    kind: str = Field(description="grant, charge or refund.")
    credits: float
    balance_after: float
    request_id: str | None
    note: str
    created_at: datetime


class Credits(BaseModel):
    available: float
    ledger: list[LedgerEntry] = Field(description="The latest ledger rows, newest first.")
