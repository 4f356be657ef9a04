"""The accounts service: what the API and the admin CLI call."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from easel.accounts import keys
from easel.accounts.key_usage import KeyUsageRecorder
from easel.accounts.models import (
    ROLES,
    Account,
    ApiKeyInfo,
    CreatedApiKey,
    MemberInfo,
    OrganizationInfo,
    OrganizationMembership,
    Principal,
)
from easel.accounts.principal_cache import PrincipalCache
from easel.db.engine import Database
from easel.db.ids import new_id
from easel.db.models import ApiKey, Membership, Organization, User
from easel.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, Unauthorized

# A shorter start of a key id or prefix ("sk-", "key-") would match nearly every key.
MIN_KEY_REF_LENGTH = 6

# One round trip, built once: the key, its user's admin flag and memberships (a row each).
_AUTHENTICATE = (
    select(
        ApiKey.id,
        ApiKey.user_id,
        ApiKey.revoked_at,
        User.is_admin,
        Membership.organization_id,
        Membership.is_default,
    )
    .join(User, User.id == ApiKey.user_id)
    .outerjoin(Membership, Membership.user_id == ApiKey.user_id)
    .where(ApiKey.key_hash == bindparam("key_hash"))
    .order_by(Membership.id)
)


class AccountsService:
    def __init__(
        self,
        db: Database,
        *,
        key_usage: KeyUsageRecorder | None = None,
        principal_cache: PrincipalCache | None = None,
    ) -> None:
        """`key_usage` records each authenticated key's last use; without it (the admin
        CLI, tests) authentication records nothing. `principal_cache` keeps recent
        authentications (see `cached_principal`); without it every one is looked up."""
        self._db = db
        self._key_usage = key_usage
        self._principals = principal_cache

    # -- users and organizations -------------------------------------------------

    def create_user(self, email: str, *, is_admin: bool = False) -> str:
        email = email.strip().lower()
        if "@" not in email or len(email) > 320:
            raise InvalidRequest(f"email: not a valid address: {email!r}")
        user_id = new_id("user")
        try:
            with self._db.session() as session:
                session.add(User(id=user_id, email=email, is_admin=is_admin))
        except IntegrityError as exc:
            raise Conflict(f"a user with email {email} already exists") from exc
        return user_id

    def create_organization(self, name: str) -> str:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidRequest("name: must be 1-200 characters")
        org_id = new_id("org")
        with self._db.session() as session:
            session.add(Organization(id=org_id, name=name))
        return org_id

    def add_member(
        self, user_ref: str, org_id: str, *, role: str = "MEMBER", default: bool = False
    ) -> None:
        """Add a user (by id or email) to an organization.

        The first organization of a user becomes its default; `default=True`
        moves the default flag to this one.
        """
        role = role.upper()
        if role not in ROLES:
            raise InvalidRequest(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
        with self._db.session() as session:
            user = self._find_user(session, user_ref)
            if session.get(Organization, org_id) is None:
                raise NotFound(f"organization {org_id} not found")
            existing = session.scalars(
                select(Membership).where(Membership.user_id == user.id)
            ).all()
            if any(m.organization_id == org_id for m in existing):
                raise Conflict(f"{user.email} is already a member of {org_id}")
            make_default = default or not existing
            if make_default:
                for membership in existing:
                    membership.is_default = False
            session.add(
                Membership(
                    user_id=user.id, organization_id=org_id, role=role, is_default=make_default
                )
            )
        self._forget_principals()  # the user's default organization may have moved

    def organizations(self) -> list[OrganizationInfo]:
        """Every organization, oldest first, with its number of members."""
        with self._db.session() as session:
            members = (
                select(func.count(Membership.id))
                .where(Membership.organization_id == Organization.id)
                .scalar_subquery()
            )
            rows = session.execute(
                select(Organization, members).order_by(Organization.created_at, Organization.id)
            ).all()
            return [
                OrganizationInfo(id=org.id, name=org.name, created_at=org.created_at, members=n)
                for org, n in rows
            ]

    def members(self, org_id: str) -> list[MemberInfo]:
        with self._db.session() as session:
            if session.get(Organization, org_id) is None:
                raise NotFound(f"organization {org_id} not found")
            rows = session.execute(
                select(Membership, User.email)
                .join(User)
                .where(Membership.organization_id == org_id)
                .order_by(Membership.created_at, Membership.id)
            ).all()
            return [
                MemberInfo(user_id=m.user_id, email=email, role=m.role, is_default=m.is_default)
                for m, email in rows
            ]

    def account(self, user_id: str) -> Account:
        with self._db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            return Account(
                id=user.id,
                email=user.email,
                profile_picture=user.profile_picture,
                organizations=[
                    OrganizationMembership(
                        id=m.organization.id,
                        name=m.organization.name,
                        role=m.role,
                        is_default=m.is_default,
                    )
                    for m in user.memberships
                ],
            )

    def has_users(self) -> bool:
        with self._db.session() as session:
            return session.scalars(select(User.id).limit(1)).first() is not None

    # -- API keys ------------------------------------------------------------------

    def create_key(self, user_ref: str, *, name: str = "") -> CreatedApiKey:
        secret = keys.new_secret()
        with self._db.session() as session:
            user = self._find_user(session, user_ref)
            row = ApiKey(
                id=new_id("key"),
                user_id=user.id,
                name=name,
                prefix=keys.visible_prefix(secret),
                key_hash=keys.hash_secret(secret),
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return CreatedApiKey(info=_key_info(row, user.email), secret=secret)

    def list_keys(self, user_ref: str | None = None) -> list[ApiKeyInfo]:
        with self._db.session() as session:
            query = select(ApiKey, User.email).join(User).order_by(ApiKey.created_at)
            if user_ref is not None:
                query = query.where(ApiKey.user_id == self._find_user(session, user_ref).id)
            return [_key_info(row, email) for row, email in session.execute(query).all()]

    def revoke_key(self, key_ref: str) -> ApiKeyInfo:
        """Revoke a key by id, visible prefix, or a unique start of either (as a narrow
        table shows them, `…` included); revoking twice is harmless."""
        ref = key_ref.strip().removesuffix("…").removesuffix("...")
        if len(ref) < MIN_KEY_REF_LENGTH:
            raise InvalidRequest(
                f"key: give at least {MIN_KEY_REF_LENGTH} characters of the key id or prefix"
            )
        with self._db.session() as session:
            rows = session.scalars(
                select(ApiKey).where((ApiKey.id == ref) | (ApiKey.prefix == ref))
            ).all()
            if not rows:
                rows = session.scalars(
                    select(ApiKey).where(
                        ApiKey.id.startswith(ref, autoescape=True)
                        | ApiKey.prefix.startswith(ref, autoescape=True)
                    )
                ).all()
            if not rows:
                raise NotFound(f"API key {key_ref} not found")
            if len(rows) > 1:
                ids = ", ".join(sorted(row.id for row in rows))
                raise Conflict(
                    f"{key_ref} matches {len(rows)} keys ({ids}); give more of the key id"
                )
            row = rows[0]
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            info = _key_info(row, row.user.email)
        self._forget_principals()
        return info

    def revoke_user_key(self, user_id: str, key_id: str) -> ApiKeyInfo:
        """Revoke one of the user's own keys by id; another user's key is not found."""
        with self._db.session() as session:
            row = session.get(ApiKey, key_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"API key {key_id} not found")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            info = _key_info(row, row.user.email)
        self._forget_principals()
        return info

    # -- authentication ------------------------------------------------------------

    def cached_principal(self, secret: str, organization_id: str | None = None) -> Principal | None:
        """`authenticate`'s answer if it gave it within the cache's lifetime, else None.
        Does no I/O, so the event loop calls it before paying for a thread."""
        if self._principals is None or not self._principals.enabled:
            return None
        principal = self._principals.get(keys.hash_secret(secret), organization_id)
        if principal is not None and self._key_usage is not None:
            self._key_usage.touch(principal.api_key_id)
        return principal

    def authenticate(self, secret: str, organization_id: str | None = None) -> Principal:
        """Resolve a key secret (and an optional `Organization` header) to a principal."""
        key_hash = keys.hash_secret(secret)
        # taken before the read: a revocation that commits meanwhile voids this answer
        generation = self._principals.generation if self._principals is not None else 0
        with self._db.statement() as connection:
            rows = connection.execute(_AUTHENTICATE, {"key_hash": key_hash}).all()
        if not rows or rows[0].revoked_at is not None:
            raise Unauthorized(
                f"Incorrect API key provided ({keys.visible_prefix(secret)}…); "
                "check the key or create a new one."
            )
        row = rows[0]
        memberships = [r for r in rows if r.organization_id is not None]
        if organization_id is not None:
            chosen = next((m for m in memberships if m.organization_id == organization_id), None)
            if chosen is None:
                raise PermissionDenied(
                    f"Organization {organization_id}: the API key's user is not a member "
                    "of this organization; send the id of one of its organizations, or "
                    "no Organization header for its default one"
                )
        else:
            chosen = next((m for m in memberships if m.is_default), None) or next(
                iter(memberships), None
            )
            if chosen is None:
                raise PermissionDenied(
                    "The API key's user belongs to no organization; an admin must add it to one"
                )
        # written later in a batch: a write here serialises concurrent requests on SQLite
        if self._key_usage is not None:
            self._key_usage.touch(row.id)
        assert chosen.organization_id is not None
        principal = Principal(
            api_key_id=row.id,
            user_id=row.user_id,
            organization_id=chosen.organization_id,
            is_admin=row.is_admin,
        )
        if self._principals is not None:
            self._principals.put(key_hash, organization_id, principal, generation=generation)
        return principal

    def _forget_principals(self) -> None:
        if self._principals is not None:
            self._principals.clear()

    @staticmethod
    def _find_user(session: Session, user_ref: str) -> User:
        user = (
            session.get(User, user_ref)
            or session.scalars(select(User).where(User.email == user_ref.strip().lower())).first()
        )
        if user is None:
            raise NotFound(f"user {user_ref} not found")
        return user


def _key_info(row: ApiKey, email: str) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        user_id=row.user_id,
        email=email,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
