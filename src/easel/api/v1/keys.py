"""easel extension, `/v1/user/keys`: the caller's own API keys.

A user creates keys (the secret is in the answer once and stored only as a
hash), lists them by prefix with their last use, and revokes them. Only the
user's own keys are visible: another user's key id is a 404.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request

from easel.accounts.models import ApiKeyInfo
from easel.api.deps import AppServices, CurrentPrincipal
from easel.api.jsonbody import read_body
from easel.api.openapi import error_responses, json_body
from easel.api.v1.schemas import ApiKey, CreateApiKeyRequestBody, CreatedApiKey

router = APIRouter(prefix="/v1/user/keys", tags=["v1/user"])


def _key(info: ApiKeyInfo) -> ApiKey:
    return ApiKey(
        id=info.id,
        name=info.name,
        prefix=info.prefix,
        created_at=info.created_at,
        last_used_at=info.last_used_at,
        revoked_at=info.revoked_at,
    )


@router.get(
    "", response_model=list[ApiKey], responses=error_responses(400, 401, 403, 429, 500, 503)
)
async def list_keys(principal: CurrentPrincipal, services: AppServices) -> list[ApiKey]:
    """easel extension: the caller's API keys, oldest first, revoked ones included."""
    keys = await anyio.to_thread.run_sync(services.accounts.list_keys, principal.user_id)
    return [_key(info) for info in keys]


@router.post(
    "",
    status_code=201,
    response_model=CreatedApiKey,
    responses=error_responses(400, 401, 403, 429, 500, 503),
    openapi_extra=json_body(CreateApiKeyRequestBody),
)
async def create_key(
    request: Request, principal: CurrentPrincipal, services: AppServices
) -> CreatedApiKey:
    """easel extension: create an API key for the caller; its secret is shown only here."""
    body = await read_body(request, CreateApiKeyRequestBody)
    created = await anyio.to_thread.run_sync(
        lambda: services.accounts.create_key(principal.user_id, name=body.name)
    )
    return CreatedApiKey(**_key(created.info).model_dump(), secret=created.secret)


@router.delete(
    "/{key_id}",
    response_model=ApiKey,
    responses=error_responses(400, 401, 403, 404, 429, 500, 503),
)
async def revoke_key(key_id: str, principal: CurrentPrincipal, services: AppServices) -> ApiKey:
    """easel extension: revoke one of the caller's keys (the one in use too); idempotent."""
    info = await anyio.to_thread.run_sync(
        services.accounts.revoke_user_key, principal.user_id, key_id
    )
    return _key(info)
