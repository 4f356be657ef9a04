"""`/v1/engines`: the engine registry, and easel's price list extension."""

from __future__ import annotations

from fastapi import APIRouter

from easel.api.deps import AppServices, CurrentPrincipal, PrincipalOr401
from easel.api.openapi import error_responses
from easel.api.v1.schemas import Engine, EnginePricing
from easel.billing.prices import engine_price

router = APIRouter(prefix="/v1/engines", tags=["v1/engines"])


@router.get(
    "/list",
    response_model=list[Engine],
    responses=error_responses(400, 401, 429, 500, 503),
)
async def list_engines(_principal: PrincipalOr401, services: AppServices) -> list[Engine]:
    """List all engines available to your organization/user."""
    return [
        Engine(id=spec.id, name=spec.name, description=spec.description, type=spec.type)
        for spec in services.engines.list()
        if spec.api == "v1"  # v2beta engines are picked by v2beta routes, never listed here
    ]


@router.get(
    "/pricing",
    response_model=list[EnginePricing],
    responses=error_responses(400, 401, 403, 429, 500, 503),
)
async def engine_pricing(
    _principal: CurrentPrincipal, services: AppServices
) -> list[EnginePricing]:
    """easel extension: the inputs of each engine's price formula."""
    return [EnginePricing(**engine_price(spec).__dict__) for spec in services.engines.list()]
