"""`POST /v2beta/3d/stable-fast-3d` and `/v2beta/3d/stable-point-aware-3d` (reference §3.20).

Synchronous; the answer is always the mesh as binary glTF (`model/gltf-binary`),
whatever `Accept` says, as Stability's 3D services do.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from easel.api import jobflow
from easel.api.deps import AppServices, RequestCredentials
from easel.api.openapi import Responses
from easel.api.streaming import stream_output
from easel.api.v2beta import common
from easel.api.v2beta import openapi as docs
from easel.api.v2beta import params as p
from easel.generation.media import ImageTo3D, StableFast3D, StablePointAware3D
from easel.generation.outputs import GLB

router = APIRouter(prefix="/v2beta/3d", tags=["v2beta/3d"])

IMAGE = (
    "The subject (PNG, JPEG or WebP; every side at least 64 pixels, 4096-4194304 pixels); "
    "an alpha channel marks the subject."
)


def _responses() -> Responses:
    ok = {
        "description": "The mesh as binary glTF, whatever `Accept` says.",
        "content": {GLB: {"schema": {"type": "string", "format": "binary"}}},
    }
    return {200: ok, **docs.errors(*docs.STABLE_IMAGE_ERRORS)}


@router.post(
    "/stable-fast-3d",
    openapi_extra=docs.body(p.StableFast3DBody, files={"image": IMAGE}),
    responses=_responses(),
    response_class=Response,
)
async def stable_fast_3d(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """A textured 3D mesh of the image's subject."""
    form = await common.form(request)
    body = p.validate_form(p.StableFast3DBody, form.fields)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = StableFast3D(image=image, **body.model_dump())
    return await _mesh(request, services, credentials, "stable-fast-3d", op)


@router.post(
    "/stable-point-aware-3d",
    openapi_extra=docs.body(p.StablePointAware3DBody, files={"image": IMAGE}),
    responses=_responses(),
    response_class=Response,
)
async def stable_point_aware_3d(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """A textured 3D mesh of the image's subject, with vertex or face targets."""
    form = await common.form(request)
    body = p.validate_form(p.StablePointAware3DBody, form.fields)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = StablePointAware3D(image=image, **body.model_dump())
    return await _mesh(request, services, credentials, "stable-point-aware-3d", op)


async def _mesh(
    request: Request,
    services: AppServices,
    credentials: RequestCredentials,
    engine_id: str,
    op: ImageTo3D,
) -> Response:
    handle = await common.start(request, services, credentials, engine_id, op)
    (output,) = await jobflow.run_to_completion(request, services, handle)
    return await stream_output(output)
