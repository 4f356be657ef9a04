"""Typed FastAPI dependencies: `services: AppServices`, `principal: CurrentPrincipal`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from easel.accounts.models import Principal
from easel.api.services import SERVICES_SCOPE_KEY, Services
from easel.errors import InvalidRequest, PermissionDenied, RateLimited, Unauthorized

MAX_KEY_LENGTH = 512
MAX_ORGANIZATION_ID_LENGTH = 64


async def get_services(request: Request) -> Services:
    # async: a plain `def` dependency costs every request a hop to the thread pool
    services: Services = request.scope[SERVICES_SCOPE_KEY]
    return services


AppServices = Annotated[Services, Depends(get_services)]


def api_key_from_header(value: str | None) -> str:
    """Take `Bearer <key>` or a bare key, as Stability's own samples send both."""
    if value is None or not value.strip():
        raise Unauthorized("missing authorization header")
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    if not value or len(value) > MAX_KEY_LENGTH or any(c.isspace() for c in value):
        raise Unauthorized("authorization: invalid or missing header value")
    return value


# Declared as Stability's spec does (an API key in the Authorization header) so that every
# route depending on the principal documents it; we check the header ourselves for
# Stability's error body, hence no auto_error.
api_key_scheme = APIKeyHeader(
    name="Authorization",
    scheme_name="STABILITY_API_KEY",
    description="Your API key, as `Bearer <key>` or the bare key.",
    auto_error=False,
)


@dataclass(frozen=True)
class Credentials:
    """What a request presents: its API key header and the organization it asks for."""

    authorization: str | None
    organization: str | None


async def get_credentials(
    authorization: Annotated[str | None, Security(api_key_scheme)],
    organization: Annotated[
        str | None,
        Header(
            alias="Organization",
            description="Scope the request to an organization other than the user's default.",
            examples=["org-123456"],
        ),
    ] = None,
    # Read by the request log from the raw headers; declared here to document them.
    _client_id: Annotated[
        str | None,
        Header(
            alias="Stability-Client-ID",
            description="The client application or sub-organization making the request.",
            examples=["my-great-plugin"],
        ),
    ] = None,
    _client_version: Annotated[
        str | None,
        Header(
            alias="Stability-Client-Version",
            description="The version of the client application making the request.",
            examples=["1.2.1"],
        ),
    ] = None,
) -> Credentials:
    return Credentials(authorization, organization)


RequestCredentials = Annotated[Credentials, Depends(get_credentials)]


async def get_principal(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Principal:
    # Failed authentications cost the client address a token; with none left, keys
    # from that address are not even checked, so guessing them is slow.
    failures = services.auth_failures
    address = request.client.host if request.client else ""
    if failures is not None and (wait := failures.wait(address)) > 0:
        raise RateLimited(
            "Too many requests with an invalid API key from this address.",
            retry_after=int(wait + 0.999),
        )
    organization = credentials.organization
    if organization is not None:
        organization = organization.strip()
        if not organization or len(organization) > MAX_ORGANIZATION_ID_LENGTH:
            raise InvalidRequest("organization: not a valid organization id")
    try:
        secret = api_key_from_header(credentials.authorization)
        # a key seen within `[auth] cache_seconds` costs no thread and no query
        principal = services.accounts.cached_principal(secret, organization)
        if principal is None:
            principal = await anyio.to_thread.run_sync(
                services.accounts.authenticate, secret, organization
            )
    except Unauthorized:
        if failures is not None:
            failures.take(address)
        raise
    request.state.principal = principal
    limiter = services.rate_limiter
    if limiter is not None:
        decision = await limiter.hit(principal.api_key_id)
        if not decision.allowed:
            raise RateLimited(
                f"You have exceeded the rate limit of {decision.limit} requests within a "
                f"{services.settings.rate_limit.window_seconds:g} second period, and have "
                f"been timed out for {services.settings.rate_limit.lockout_seconds:g} seconds.",
                retry_after=int(decision.retry_after + 0.999),
            )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_principal_or_401(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Principal:
    """As `get_principal`, but a key that may not act for the organization is a 401."""
    try:
        return await get_principal(request, services, credentials)
    except PermissionDenied as exc:
        raise Unauthorized(exc.message) from exc


# For routes whose Stability spec documents 401 but no 403 (`/v1/engines/list`,
# `/v1/user/account`, `/v1/user/balance`): clients branch on the documented statuses.
PrincipalOr401 = Annotated[Principal, Depends(get_principal_or_401)]


async def get_admin(principal: CurrentPrincipal) -> Principal:
    """The principal, if its user is an administrator; anyone else gets a 403."""
    if not principal.is_admin:
        raise PermissionDenied("This API is for administrators; the key's user is not one.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(get_admin)]
