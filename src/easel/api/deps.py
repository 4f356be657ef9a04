"""Typed FastAPI dependencies: `services: AppServices`, `principal: CurrentPrincipal`."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from easel.accounts.models import Principal
from easel.api.services import Services
from easel.errors import InvalidRequest, RateLimited, Unauthorized

MAX_KEY_LENGTH = 512
MAX_ORGANIZATION_ID_LENGTH = 64


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
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


async def get_principal(request: Request, services: AppServices) -> Principal:
    # Failed authentications cost the client address a token; with none left, keys
    # from that address are not even checked, so guessing them is slow.
    failures = services.auth_failures
    address = request.client.host if request.client else ""
    if failures is not None and (wait := failures.wait(address)) > 0:
        raise RateLimited(
            "Too many requests with an invalid API key from this address.",
            retry_after=int(wait + 0.999),
        )
    organization = request.headers.get("organization")
    if organization is not None:
        organization = organization.strip()
        if not organization or len(organization) > MAX_ORGANIZATION_ID_LENGTH:
            raise InvalidRequest("organization: not a valid organization id")
    try:
        secret = api_key_from_header(request.headers.get("authorization"))
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
