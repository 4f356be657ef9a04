"""`/admin`: users, organizations, members and credit grants, for administrators only.

Every route calls the `AdminService` that `easel admin …` calls too; a key
whose user is not an administrator gets 403 `permission_denied`.
"""

from __future__ import annotations

from dataclasses import asdict

import anyio
from fastapi import APIRouter, Request

from easel.api.admin import schemas
from easel.api.deps import AdminPrincipal, AppServices
from easel.api.jsonbody import read_body
from easel.api.openapi import error_responses, json_body

router = APIRouter(prefix="/admin", tags=["admin"])

_ERRORS = (400, 401, 403, 429, 500)


@router.get(
    "/organizations",
    response_model=list[schemas.Organization],
    responses=error_responses(*_ERRORS),
)
async def list_organizations(
    _admin: AdminPrincipal, services: AppServices
) -> list[schemas.Organization]:
    """Every organization with its member count and available credits."""
    orgs = await anyio.to_thread.run_sync(services.admin.organizations)
    return [schemas.Organization(**asdict(org)) for org in orgs]


@router.post(
    "/organizations",
    status_code=201,
    response_model=schemas.Organization,
    responses=error_responses(*_ERRORS),
    openapi_extra=json_body(schemas.CreateOrganizationRequestBody),
)
async def create_organization(
    request: Request, _admin: AdminPrincipal, services: AppServices
) -> schemas.Organization:
    """Create an organization (with no members and no credits)."""
    body = await read_body(request, schemas.CreateOrganizationRequestBody)
    org = await anyio.to_thread.run_sync(services.admin.create_organization, body.name)
    return schemas.Organization(**asdict(org))


@router.get(
    "/organizations/{organization_id}/members",
    response_model=list[schemas.Member],
    responses=error_responses(*_ERRORS, 404),
)
async def list_members(
    organization_id: str, _admin: AdminPrincipal, services: AppServices
) -> list[schemas.Member]:
    """An organization's members and their roles."""
    members = await anyio.to_thread.run_sync(services.admin.members, organization_id)
    return [schemas.Member.model_validate(asdict(m)) for m in members]


@router.post(
    "/organizations/{organization_id}/members",
    status_code=201,
    response_model=schemas.Member,
    responses=error_responses(*_ERRORS, 404, 409),
    openapi_extra=json_body(schemas.AddMemberRequestBody),
)
async def add_member(
    organization_id: str, request: Request, _admin: AdminPrincipal, services: AppServices
) -> schemas.Member:
    """Add a user (by id or email) to an organization; 409 if already a member."""
    body = await read_body(request, schemas.AddMemberRequestBody)
    member = await anyio.to_thread.run_sync(
        lambda: services.admin.add_member(
            body.user, organization_id, role=body.role, default=body.default
        )
    )
    return schemas.Member.model_validate(asdict(member))


@router.get(
    "/organizations/{organization_id}/credits",
    response_model=schemas.Credits,
    responses=error_responses(*_ERRORS, 404),
)
async def show_credits(
    organization_id: str, _admin: AdminPrincipal, services: AppServices, limit: int = 20
) -> schemas.Credits:
    """An organization's available credits and its latest ledger rows."""
    statement = await anyio.to_thread.run_sync(
        lambda: services.admin.credits(organization_id, limit=min(max(limit, 1), 200))
    )
    return schemas.Credits(
        available=statement.available,
        ledger=[schemas.LedgerEntry(**asdict(entry)) for entry in statement.ledger],
    )


@router.post(
    "/organizations/{organization_id}/credits",
    response_model=schemas.Credits,
    responses=error_responses(*_ERRORS, 404),
    openapi_extra=json_body(schemas.GrantCreditsRequestBody),
)
async def grant_credits(
    organization_id: str, request: Request, _admin: AdminPrincipal, services: AppServices
) -> schemas.Credits:
    """Grant (or, with a negative amount, remove) credits; answers the new statement."""
    body = await read_body(request, schemas.GrantCreditsRequestBody)
    await anyio.to_thread.run_sync(
        lambda: services.admin.grant_credits(organization_id, body.credits, note=body.note)
    )
    return await show_credits(organization_id, _admin, services)


@router.post(
    "/users",
    status_code=201,
    response_model=schemas.User,
    responses=error_responses(*_ERRORS, 409),
    openapi_extra=json_body(schemas.CreateUserRequestBody),
)
async def create_user(
    request: Request, _admin: AdminPrincipal, services: AppServices
) -> schemas.User:
    """Create a user; add it to an organization to let it generate."""
    body = await read_body(request, schemas.CreateUserRequestBody)
    user_id = await anyio.to_thread.run_sync(
        lambda: services.admin.create_user(body.email, is_admin=body.is_admin)
    )
    return schemas.User(id=user_id, email=body.email.strip().lower())
