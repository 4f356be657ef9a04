"""Running a generation for a synchronous request: start it, wait, watch the client.

A client that goes away cancels the job it started, unless it sent an
`Idempotency-Key`: then the job runs on, so the client's retry (which an SDK
makes after a read timeout) attaches to it and gets the result.
"""

from __future__ import annotations

import logging

import anyio
from fastapi import Request

from easel.accounts.models import Principal
from easel.api.services import Services
from easel.errors import ClientClosedRequest
from easel.generation.requests import OperationRequest
from easel.generation.service import OutputFile
from easel.jobs.models import JobView
from easel.jobs.service import JobHandle, Submission

log = logging.getLogger("easel.jobs")


async def start(
    request: Request, services: Services, principal: Principal, engine_id: str, op: OperationRequest
) -> JobHandle:
    who = Submission(
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        request_id=request.state.request_id,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    handle = await services.generation.start(engine_id, op, who)
    request.state.generation_id = handle.id
    return handle


async def run_to_completion(
    request: Request, services: Services, handle: JobHandle
) -> list[OutputFile]:
    """Wait for the job and return its outputs; if the client disconnects first, stop."""
    owns_job = handle.job.request_id == request.state.request_id
    keep_running = request.headers.get("idempotency-key") is not None
    finished: JobView | None = None
    async with anyio.create_task_group() as tasks:

        async def watch_disconnect() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    if owns_job and not keep_running:
                        await handle.cancel()
                    tasks.cancel_scope.cancel()
                    return

        tasks.start_soon(watch_disconnect)
        finished = await handle.result()
        tasks.cancel_scope.cancel()
    if finished is None:  # the client went away; nobody reads this response
        log.info(
            "client left generation %s (%s)",
            handle.id,
            "kept running" if keep_running else "cancelled",
        )
        raise ClientClosedRequest("client disconnected")
    if owns_job:
        request.state.credits_milli = finished.credits_charged_milli
    return await services.generation.result(finished)
