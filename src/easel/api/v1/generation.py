"""`/v1/generation/{engine_id}/…`: text-to-image, image-to-image, masking, upscale."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from PIL import Image

from easel.api import jobflow
from easel.api.deps import AppServices, CurrentPrincipal
from easel.api.forms import read_form
from easel.api.v1 import openapi as docs
from easel.api.v1 import params as p
from easel.api.v1.artifacts import render_artifacts, wants_png
from easel.engines.base import WeightedPrompt
from easel.errors import InvalidRequest
from easel.generation.images import decode_image, mask_from_source
from easel.generation.requests import (
    ImageToImage,
    Masking,
    OperationRequest,
    TextToImage,
    Upscale,
)

router = APIRouter(prefix="/v1/generation", tags=["v1/generation"])

MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 256
# Parts under these names are files even without a filename, as Go and Node clients send them.
IMAGE_FIELDS = frozenset({"init_image", "mask_image", "image"})


@router.post(
    "/{engine_id}/text-to-image",
    openapi_extra=docs.json_generation(p.TextToImageRequestBody),
    responses=docs.generation_responses(),
)
async def text_to_image(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Generate a new image from a text prompt."""
    services.generation.engine_for(engine_id, TextToImage)
    body = p.validate_body(p.TextToImageRequestBody, p.parse_json(await request.body()))
    as_png = _check_accept(request, body.samples)
    op = TextToImage(**_common(body), width=body.width, height=body.height)
    return await _run(request, services, principal, engine_id, op, as_png)


@router.post(
    "/{engine_id}/image-to-image",
    openapi_extra=docs.multipart_generation(
        p.ImageToImageRequestBody,
        files={"init_image": docs.INIT_IMAGE},
        required_files=("init_image",),
    ),
    responses=docs.generation_responses(),
)
async def image_to_image(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Produce an image from an existing image and a text prompt."""
    services.generation.engine_for(engine_id, ImageToImage)
    fields, files = await _form(request)
    body = p.validate_body(p.ImageToImageRequestBody, fields)
    as_png = _check_accept(request, body.samples)
    init = await _decode(files, "init_image", services)
    schedule: tuple[float | None, float | None]
    if body.init_image_mode == "STEP_SCHEDULE":
        strength = 1 - body.step_schedule_start
        schedule = (body.step_schedule_start, body.step_schedule_end)
    else:
        strength, schedule = body.image_strength, (None, None)
    op = ImageToImage(
        **_common(body),
        init_image=init,
        image_strength=strength,
        step_schedule_start=schedule[0],
        step_schedule_end=schedule[1],
    )
    return await _run(request, services, principal, engine_id, op, as_png)


@router.post(
    "/{engine_id}/image-to-image/masking",
    openapi_extra=docs.multipart_generation(
        p.MaskingRequestBody,
        files={"init_image": docs.INIT_IMAGE, "mask_image": docs.MASK_IMAGE},
        required_files=("init_image",),
    ),
    responses=docs.generation_responses(),
)
async def masking(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Selectively modify portions of an image using a mask."""
    services.generation.engine_for(engine_id, Masking)
    fields, files = await _form(request)
    body = p.validate_body(p.MaskingRequestBody, fields)
    as_png = _check_accept(request, body.samples)
    init = await _decode(files, "init_image", services)
    mask_image = None
    if body.mask_source != "INIT_IMAGE_ALPHA" and "mask_image" in files:
        mask_image = await _decode(files, "mask_image", services)
    mask = await anyio.to_thread.run_sync(mask_from_source, body.mask_source, init, mask_image)
    op = Masking(**_common(body), init_image=init, mask=mask)
    return await _run(request, services, principal, engine_id, op, as_png)


@router.post(
    "/{engine_id}/image-to-image/upscale",
    openapi_extra=docs.multipart_generation(
        p.UpscaleRequestBody,
        files={"image": docs.UPSCALE_IMAGE},
        required_files=("image",),
    ),
    responses=docs.generation_responses(),
)
async def upscale(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Create a higher resolution version of an input image."""
    services.generation.engine_for(engine_id, Upscale)
    fields, files = await _form(request)
    body = p.validate_body(p.UpscaleRequestBody, fields)
    as_png = _check_accept(request, 1)
    image = await _decode(files, "image", services)
    op = Upscale(
        image=image,
        width=body.width,
        height=body.height,
        prompts=tuple(WeightedPrompt(t.text, t.weight) for t in body.text_prompts or []),
        seed=body.seed,
        steps=body.steps,
        cfg_scale=body.cfg_scale,
    )
    return await _run(request, services, principal, engine_id, op, as_png)


def _check_accept(request: Request, samples: int) -> bool:
    as_png = wants_png(request.headers.get("accept"))
    if as_png and samples > 1:
        raise InvalidRequest(
            "samples: may only be greater than 1 when the accept header is set to application/json",
            name="invalid_samples",
        )
    return as_png


def _common(body: p.GenerationRequestOptionalParams) -> dict[str, Any]:
    """The fields every v1 diffusion body shares, as the operation request names them."""
    return {
        "prompts": tuple(WeightedPrompt(t.text, t.weight) for t in body.text_prompts),
        "seed": body.seed,
        "samples": body.samples,
        "steps": body.steps,
        "cfg_scale": body.cfg_scale,
        "sampler": body.sampler,
        "style_preset": body.style_preset,
        "extras": dict(body.extras or {}),
    }


async def _form(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    form = await read_form(
        request, file_fields=IMAGE_FIELDS, max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS
    )
    return p.fold_form(form.fields), form.files


async def _decode(files: dict[str, bytes], field: str, services: AppServices) -> Image.Image:
    """Decode off the event loop: a 10 MiB PNG takes long enough to stall other requests."""
    data = files.get(field)
    if data is None:
        raise InvalidRequest(f"{field}: is required")
    limit = services.settings.generation.max_input_pixels
    return await anyio.to_thread.run_sync(lambda: decode_image(data, field, max_pixels=limit))


async def _run(
    request: Request,
    services: AppServices,
    principal: CurrentPrincipal,
    engine_id: str,
    op: OperationRequest,
    as_png: bool,
) -> Response:
    handle = await jobflow.start(request, services, principal, engine_id, op)
    outputs = await jobflow.run_to_completion(request, services, handle)
    return await render_artifacts(outputs, as_png=as_png)
