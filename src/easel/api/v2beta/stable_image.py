"""`/v2beta/stable-image/{generate,upscale}/…`: parse, call the generation service, render.

Validation first, then authentication (see `common`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from easel.api.deps import AppServices, RequestCredentials
from easel.api.v2beta import common
from easel.api.v2beta import openapi as docs
from easel.api.v2beta import params as p
from easel.api.v2beta.render import wants_json
from easel.api.v2beta.schemas import GenerationID
from easel.errors import InvalidRequest
from easel.generation.requests import OperationRequest
from easel.generation.stable_image import (
    Generate,
    GenerateFromImage,
    UpscaleConservative,
    UpscaleCreative,
    UpscaleFast,
)

router = APIRouter(prefix="/v2beta/stable-image", tags=["v2beta/stable-image"])

ULTRA = "stable-image-ultra"
CORE = "stable-image-core"


@router.post(
    "/generate/ultra",
    openapi_extra=docs.body(p.GenerateUltraBody, files={"image": docs.GENERATE_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def generate_ultra(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Stable Image Ultra: a 1 MP image from a prompt, or from an image and a prompt."""
    form = await common.form(request)
    body = p.validate_form(p.GenerateUltraBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=False)
    if image is not None and body.strength is None:
        raise InvalidRequest("strength: is required when image is given")
    if image is None and body.strength is not None:
        raise InvalidRequest("image: is required when strength is given")
    fields = common.prompted(body) | {"style_preset": body.style_preset}
    op: OperationRequest
    if image is not None and body.strength is not None:
        op = GenerateFromImage(**fields, image=image, strength=body.strength)
    else:
        op = Generate(**fields, aspect_ratio=body.aspect_ratio)
    return await common.run_sync(request, services, credentials, ULTRA, op, as_json)


@router.post(
    "/generate/core",
    openapi_extra=docs.body(p.GenerateCoreBody),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def generate_core(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Stable Image Core: a fast image from a prompt."""
    form = await common.form(request)
    body = p.validate_form(p.GenerateCoreBody, form.fields)
    as_json = wants_json(request)
    op = Generate(
        **common.prompted(body), style_preset=body.style_preset, aspect_ratio=body.aspect_ratio
    )
    return await common.run_sync(request, services, credentials, CORE, op, as_json)


@router.post(
    "/generate/sd3",
    openapi_extra=docs.body(p.GenerateSD3Body, files={"image": docs.SD3_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def generate_sd3(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Stable Diffusion 3 / 3.5: text-to-image, or image-to-image with `mode`."""
    form = await common.form(request)
    body = p.validate_form(p.GenerateSD3Body, form.fields)
    as_json = wants_json(request)
    fields = common.prompted(body) | {"style_preset": body.style_preset}
    if body.cfg_scale is not None:
        fields["cfg_scale"] = body.cfg_scale
    op: OperationRequest
    if body.mode == "image-to-image":
        image = await common.image(form, "image", services, required=True)
        problems = []
        if body.strength is None:
            problems.append("strength: is required when mode is image-to-image")
        if body.aspect_ratio is not None:
            problems.append("aspect_ratio: is only valid when mode is text-to-image")
        if problems:
            raise InvalidRequest("; ".join(problems), errors=problems)
        assert image is not None and body.strength is not None
        op = GenerateFromImage(**fields, image=image, strength=body.strength)
    else:
        if "image" in form.files:
            raise InvalidRequest("image: is only valid when mode is image-to-image")
        op = Generate(**fields, aspect_ratio=body.aspect_ratio or "1:1")
    return await common.run_sync(request, services, credentials, body.model, op, as_json)


@router.post(
    "/upscale/fast",
    openapi_extra=docs.body(p.UpscaleFastBody, files={"image": docs.UPSCALE_FAST_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def upscale_fast(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """4× an image with a super-resolution network."""
    form = await common.form(request)
    body = p.validate_form(p.UpscaleFastBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = UpscaleFast(image=image, output_format=body.output_format)
    return await common.run_sync(request, services, credentials, "upscale-fast", op, as_json)


@router.post(
    "/upscale/conservative",
    openapi_extra=docs.body(p.UpscaleConservativeBody, files={"image": docs.UPSCALE_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def upscale_conservative(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Upscale to about 4 MP or more, keeping the image's content."""
    form = await common.form(request)
    body = p.validate_form(p.UpscaleConservativeBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = UpscaleConservative(**common.prompted(body), image=image, creativity=body.creativity)
    return await common.run_sync(
        request, services, credentials, "upscale-conservative", op, as_json
    )


@router.post(
    "/upscale/creative",
    openapi_extra=docs.body(p.UpscaleCreativeBody, files={"image": docs.UPSCALE_IMAGE}),
    responses=docs.async_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def upscale_creative(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> GenerationID:
    """Asynchronous: upscale a small image, reimagining detail; poll `/v2beta/results/{id}`."""
    form = await common.form(request)
    body = p.validate_form(p.UpscaleCreativeBody, form.fields)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = UpscaleCreative(
        **common.prompted(body),
        image=image,
        creativity=body.creativity,
        style_preset=body.style_preset,
    )
    handle = await common.start(request, services, credentials, "upscale-creative", op)
    # async submits answer 200 with the id, whatever Accept says (reference §6.1)
    return GenerationID(id=handle.id)
