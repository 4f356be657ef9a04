"""Running a job for a synchronous request: submit, wait, cancel if the client leaves."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import Request

from easel.accounts.models import Principal
from easel.api.services import Services
from easel.engines.base import EngineSpec, GenerationRequest
from easel.errors import ClientClosedRequest, EaselError
from easel.jobs.models import JobView
from easel.jobs.service import JobHandle, Submission


async def submit(
    request: Request,
    services: Services,
    principal: Principal,
    spec: EngineSpec,
    generation: GenerationRequest,
    *,
    requested_seed: int,
) -> JobHandle:
    who = Submission(
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        request_id=request.state.request_id,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    handle = await services.jobs.submit(
        spec,
        generation,
        who,
        requested_seed=requested_seed,
        parameters=png_parameters(spec, generation),
    )
    request.state.generation_id = handle.id
    return handle


async def run_to_completion(request: Request, handle: JobHandle) -> JobView:
    """Wait for the job; if the client disconnects first, cancel the job it started."""
    owns_job = handle.job.request_id == request.state.request_id
    finished: JobView | None = None
    async with anyio.create_task_group() as tasks:

        async def watch_disconnect() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    if owns_job:
                        await handle.cancel()
                    tasks.cancel_scope.cancel()
                    return

        tasks.start_soon(watch_disconnect)
        finished = await handle.result()
        tasks.cancel_scope.cancel()
    if finished is None:  # the client went away; nobody reads this response
        raise ClientClosedRequest("client disconnected")
    if owns_job:
        request.state.credits_milli = finished.credits_charged_milli
    if finished.status != "succeeded":
        error = EaselError(finished.error_message or "The generation failed.")
        error.status = finished.error_status or 500
        error.name = finished.error_name or "server_error"
        raise error
    return finished


def png_parameters(spec: EngineSpec, generation: GenerationRequest) -> dict[str, Any]:
    """What the PNG text chunk records about how an image was made."""
    return {
        "engine_id": spec.id,
        "kind": generation.kind,
        "prompts": [[p.text, p.weight] for p in generation.prompts],
        "width": generation.width,
        "height": generation.height,
        "steps": generation.steps,
        "cfg_scale": generation.cfg_scale,
        "sampler": generation.sampler,
        "style_preset": generation.style_preset,
    }
