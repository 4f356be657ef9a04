"""`/v1/user`: the caller's account and the balance of the organization in scope."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query

from easel.api.deps import AppServices, CurrentPrincipal, PrincipalOr401
from easel.api.openapi import error_responses
from easel.api.v1.schemas import (
    AccountResponseBody,
    BalanceResponseBody,
    DailyCredits,
    OrganizationMembership,
)

router = APIRouter(prefix="/v1/user", tags=["v1/user"])


@router.get(
    "/account",
    response_model=AccountResponseBody,
    response_model_exclude_none=True,
    responses=error_responses(400, 401, 429, 500, 503),
)
async def user_account(principal: PrincipalOr401, services: AppServices) -> AccountResponseBody:
    """Get information about the account associated with the provided API key."""
    account = await anyio.to_thread.run_sync(services.accounts.account, principal.user_id)
    return AccountResponseBody(
        id=account.id,
        email=account.email,
        profile_picture=account.profile_picture or None,
        organizations=[
            OrganizationMembership(id=o.id, name=o.name, role=o.role, is_default=o.is_default)
            for o in account.organizations
        ],
    )


@router.get(
    "/balance",
    response_model=BalanceResponseBody,
    responses=error_responses(400, 401, 429, 500, 503),
)
async def user_balance(principal: PrincipalOr401, services: AppServices) -> BalanceResponseBody:
    """Get the credit balance of the organization in scope."""
    credits = await anyio.to_thread.run_sync(
        services.billing.available_credits, principal.organization_id
    )
    return BalanceResponseBody(credits=credits)


@router.get(
    "/credits/daily",
    response_model=list[DailyCredits],
    responses=error_responses(400, 401, 403, 429, 500, 503),
)
async def daily_credits(
    principal: CurrentPrincipal,
    services: AppServices,
    days: Annotated[int, Query(ge=1, le=366, description="How many days, today included.")] = 30,
) -> list[DailyCredits]:
    """easel extension: credits charged to the organization in scope per UTC day, oldest
    first."""
    spend = await anyio.to_thread.run_sync(
        lambda: services.billing.daily_spend(principal.organization_id, days=days)
    )
    return [DailyCredits(day=s.day, credits=s.credits) for s in spend]
