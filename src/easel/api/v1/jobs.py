"""Generation jobs: status, progress stream and cancel.

`DELETE /v1/generation/{id}` is Stability's; the `GET /v1/generations…`
routes are easel's extension. A job is visible only to the API key that
created it; any other key gets 404, as if it did not exist.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from easel.api.deps import AppServices, CurrentPrincipal
from easel.api.openapi import binary_response, error_responses
from easel.api.streaming import stream_output
from easel.api.v1.schemas import GenerationError, GenerationStatus
from easel.billing.prices import from_milli
from easel.errors import NotFound
from easel.generation.codec import public_parameters
from easel.jobs.models import JobView

MAX_OFFSET = 2**31 - 1

router = APIRouter(prefix="/v1", tags=["v1/generation"])

ARTIFACT_HEADERS = {
    "Seed": {"description": "The seed of the image.", "schema": {"type": "integer"}},
    "Finish-Reason": {
        "description": "SUCCESS or CONTENT_FILTERED.",
        "schema": {"type": "string", "enum": ["SUCCESS", "CONTENT_FILTERED"]},
    },
}


def status_of(view: JobView) -> GenerationStatus:
    return GenerationStatus(
        id=view.id,
        status=view.status,
        progress=round(view.progress, 4),
        engine_id=view.engine_id,
        kind=view.kind,
        created_at=view.created_at,
        started_at=view.started_at,
        finished_at=view.finished_at,
        expires_at=view.expires_at,
        credits_reserved=from_milli(view.credits_reserved_milli),
        credits_charged=from_milli(view.credits_charged_milli),
        artifacts=len(view.artifacts),
        error=GenerationError(name=view.error_name, message=view.error_message or "")
        if view.error_name
        else None,
        parameters=public_parameters(view.params),
    )


_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "description": "The generation's status after the change."},
        "data": {
            "type": "string",
            "description": "The generation's GenerationStatus, as JSON.",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/GenerationStatus"},
        },
    },
}


@router.delete(
    "/generation/{generation_id}",
    response_model=GenerationStatus,
    responses=error_responses(400, 401, 403, 404, 429, 500, 503),
)
async def cancel_generation(
    generation_id: str, principal: CurrentPrincipal, services: AppServices
) -> GenerationStatus:
    """Cancel an in-progress generation (by its id or the Idempotency-Key it was sent with)."""
    return status_of(await services.jobs.cancel(principal.api_key_id, generation_id))


@router.get(
    "/generations",
    response_model=list[GenerationStatus],
    responses=error_responses(400, 401, 403, 429, 500, 503),
)
async def list_generations(
    principal: CurrentPrincipal,
    services: AppServices,
    limit: int = 50,
    # bounded: the database's integers are 64-bit (schemathesis found a 500 past that)
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Skip this many (the next page).")
    ] = 0,
) -> list[GenerationStatus]:
    """easel extension: this key's recent and in-progress generations, newest first."""
    views = await services.jobs.recent(
        principal.api_key_id, limit=min(max(limit, 1), 200), offset=offset
    )
    return [status_of(view) for view in views]


@router.get(
    "/generations/{generation_id}",
    response_model=GenerationStatus,
    responses=error_responses(400, 401, 403, 404, 429, 500, 503),
)
async def get_generation(
    generation_id: str, principal: CurrentPrincipal, services: AppServices
) -> GenerationStatus:
    """easel extension: status, progress and timings of one generation."""
    return status_of(await services.jobs.get(principal.api_key_id, generation_id))


@router.get(
    "/generations/{generation_id}/artifacts/{index}",
    response_class=Response,
    responses={
        200: binary_response(
            "The image, with its `Seed` and `Finish-Reason` headers.",
            media_types=("image/png", "image/jpeg", "image/webp"),
            headers=ARTIFACT_HEADERS,
        ),
        **error_responses(400, 401, 403, 404, 409, 429, 500, 503),
    },
)
async def generation_artifact(
    generation_id: str,
    index: Annotated[int, Path(ge=0, description="Which image, from 0.")],
    principal: CurrentPrincipal,
    services: AppServices,
) -> Response:
    """easel extension: one image of a finished generation, while it is kept."""
    view = await services.jobs.get(principal.api_key_id, generation_id)
    outputs = await services.generation.result(view)
    if index >= len(outputs):
        raise NotFound(f"index: the generation has {len(outputs)} image(s); {index} is past them")
    output = outputs[index]
    return await stream_output(
        output,
        {
            "Seed": str(output.seed),
            "Finish-Reason": output.finish_reason,
            # results do not change; a browser may keep them for the session
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get(
    "/generations/{generation_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One `event: <status>` with a GenerationStatus as `data` per "
            "change, until the generation ends.",
            # OpenAPI 3.1 has no itemSchema: an event stream's `schema` is one event's.
            "content": {"text/event-stream": {"schema": _EVENT}},
        },
        **error_responses(400, 401, 403, 404, 429, 500, 503),
    },
)
async def generation_events(
    generation_id: str, principal: CurrentPrincipal, services: AppServices
) -> StreamingResponse:
    """easel extension: server-sent events with the generation's progress until it ends."""
    view = await services.jobs.get(principal.api_key_id, generation_id)

    async def events() -> AsyncIterator[bytes]:
        async for current in services.jobs.follow(view.id):
            data = status_of(current).model_dump(mode="json")
            yield f"event: {current.status}\ndata: {json.dumps(data)}\n\n".encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
