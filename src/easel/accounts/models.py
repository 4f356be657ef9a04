"""What the accounts service hands to its callers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Role = Literal["OWNER", "ADMIN", "MEMBER"]
ROLES: tuple[Role, ...] = ("OWNER", "ADMIN", "MEMBER")


@dataclass(frozen=True)
class OrganizationMembership:
    id: str
    name: str
    role: str
    is_default: bool


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    profile_picture: str
    organizations: list[OrganizationMembership]


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the key, its user, and the organization in scope."""

    api_key_id: str
    user_id: str
    organization_id: str
    is_admin: bool


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    user_id: str
    email: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key; `secret` is shown once and never stored."""

    info: ApiKeyInfo
    secret: str


@dataclass(frozen=True)
class OrganizationInfo:
    id: str
    name: str
    created_at: datetime
    members: int


@dataclass(frozen=True)
class MemberInfo:
    user_id: str
    email: str
    role: str
    is_default: bool
