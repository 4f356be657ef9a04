"""`GET /v2beta/results/{id}` and its legacy per-service paths (reference §1.3, §3.18).

202 `{id, status: "in-progress", progress}` while the job runs (`progress` is
easel's), then 200 with the result negotiated by `Accept` as the synchronous
routes do, for as long as results are kept. Another key's id, or an expired
one, is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from easel.api.deps import AppServices, CurrentPrincipal
from easel.api.v2beta import openapi as docs
from easel.api.v2beta.render import render_output, wants_json

router = APIRouter(tags=["v2beta/results"])

_PATHS = (
    "/v2beta/results/{generation_id}",
    "/v2beta/stable-image/upscale/creative/result/{generation_id}",
    "/v2beta/image-to-video/result/{generation_id}",
)


async def fetch_result(
    generation_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """The result of an asynchronous generation, or 202 while it runs."""
    as_json = wants_json(request)
    view = await services.jobs.get(principal.api_key_id, generation_id)
    if not view.done:
        body = {"id": view.id, "status": "in-progress", "progress": round(view.progress, 4)}
        return JSONResponse(body, status_code=202)
    outputs = await services.generation.result(view)
    return await render_output(outputs[0], as_json=as_json)


for _path in _PATHS:
    router.add_api_route(
        _path,
        fetch_result,
        methods=["GET"],
        responses=docs.result_responses(),
        openapi_extra={"parameters": [dict(docs.ACCEPT)]},
        # one operation per path in the document
        operation_id="fetch_result" + _path.replace("/", "_").replace("{", "").replace("}", ""),
    )
