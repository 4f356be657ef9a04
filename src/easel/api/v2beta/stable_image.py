"""`/v2beta/stable-image/{generate,upscale}/…`: parse, call the generation service, render.

Following Stability (reference §1.4, §6.6), a request is validated before its
key is checked: bad parameters with a bad key answer 400, not 401. Nothing is
reserved or run before both pass.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from PIL import Image

from easel.api import jobflow
from easel.api.deps import AppServices, RequestCredentials, get_principal
from easel.api.forms import ParsedForm, read_form
from easel.api.v2beta import openapi as docs
from easel.api.v2beta import params as p
from easel.api.v2beta.render import render_output, wants_json
from easel.api.v2beta.schemas import GenerationID
from easel.errors import InvalidRequest, Unprocessable
from easel.generation.images import decode_image
from easel.generation.requests import OperationRequest
from easel.generation.stable_image import (
    Generate,
    GenerateFromImage,
    UpscaleConservative,
    UpscaleCreative,
    UpscaleFast,
)
from easel.jobs.service import JobHandle
from easel.safety.prompts import PromptRejected

router = APIRouter(prefix="/v2beta/stable-image", tags=["v2beta/stable-image"])

MAX_FILES = 4
MAX_FIELDS = 64
# Parts under these names are files even without a filename (Go and Node examples).
IMAGE_FIELDS = frozenset({"image", "none"})

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
    form = await _form(request)
    body = p.validate_form(p.GenerateUltraBody, form.fields)
    as_json = wants_json(request)
    image = await _image(form, "image", services, required=False)
    if image is not None and body.strength is None:
        raise InvalidRequest("strength: is required when image is given")
    if image is None and body.strength is not None:
        raise InvalidRequest("image: is required when strength is given")
    common = _prompted(body) | {"style_preset": body.style_preset}
    op: OperationRequest
    if image is not None and body.strength is not None:
        op = GenerateFromImage(**common, image=image, strength=body.strength)
    else:
        op = Generate(**common, aspect_ratio=body.aspect_ratio)
    return await _sync(request, services, credentials, ULTRA, op, as_json)


@router.post(
    "/generate/core",
    openapi_extra=docs.body(p.GenerateCoreBody),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def generate_core(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Stable Image Core: a fast image from a prompt."""
    form = await _form(request)
    body = p.validate_form(p.GenerateCoreBody, form.fields)
    as_json = wants_json(request)
    op = Generate(**_prompted(body), style_preset=body.style_preset, aspect_ratio=body.aspect_ratio)
    return await _sync(request, services, credentials, CORE, op, as_json)


@router.post(
    "/generate/sd3",
    openapi_extra=docs.body(p.GenerateSD3Body, files={"image": docs.SD3_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def generate_sd3(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Stable Diffusion 3 / 3.5: text-to-image, or image-to-image with `mode`."""
    form = await _form(request)
    body = p.validate_form(p.GenerateSD3Body, form.fields)
    as_json = wants_json(request)
    common = _prompted(body) | {"style_preset": body.style_preset}
    if body.cfg_scale is not None:
        common["cfg_scale"] = body.cfg_scale
    op: OperationRequest
    if body.mode == "image-to-image":
        image = await _image(form, "image", services, required=True)
        problems = []
        if body.strength is None:
            problems.append("strength: is required when mode is image-to-image")
        if body.aspect_ratio is not None:
            problems.append("aspect_ratio: is only valid when mode is text-to-image")
        if problems:
            raise InvalidRequest("; ".join(problems), errors=problems)
        assert image is not None and body.strength is not None
        op = GenerateFromImage(**common, image=image, strength=body.strength)
    else:
        if "image" in form.files:
            raise InvalidRequest("image: is only valid when mode is image-to-image")
        op = Generate(**common, aspect_ratio=body.aspect_ratio or "1:1")
    return await _sync(request, services, credentials, body.model, op, as_json)


@router.post(
    "/upscale/fast",
    openapi_extra=docs.body(p.UpscaleFastBody, files={"image": docs.UPSCALE_FAST_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def upscale_fast(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """4× an image with a super-resolution network."""
    form = await _form(request)
    body = p.validate_form(p.UpscaleFastBody, form.fields)
    as_json = wants_json(request)
    image = await _image(form, "image", services, required=True)
    assert image is not None
    op = UpscaleFast(image=image, output_format=body.output_format)
    return await _sync(request, services, credentials, "upscale-fast", op, as_json)


@router.post(
    "/upscale/conservative",
    openapi_extra=docs.body(p.UpscaleConservativeBody, files={"image": docs.UPSCALE_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def upscale_conservative(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Upscale to about 4 MP or more, keeping the image's content."""
    form = await _form(request)
    body = p.validate_form(p.UpscaleConservativeBody, form.fields)
    as_json = wants_json(request)
    image = await _image(form, "image", services, required=True)
    assert image is not None
    op = UpscaleConservative(**_prompted(body), image=image, creativity=body.creativity)
    return await _sync(request, services, credentials, "upscale-conservative", op, as_json)


@router.post(
    "/upscale/creative",
    openapi_extra=docs.body(p.UpscaleCreativeBody, files={"image": docs.UPSCALE_IMAGE}),
    responses=docs.async_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def upscale_creative(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> GenerationID:
    """Asynchronous: upscale a small image, reimagining detail; poll `/v2beta/results/{id}`."""
    form = await _form(request)
    body = p.validate_form(p.UpscaleCreativeBody, form.fields)
    image = await _image(form, "image", services, required=True)
    assert image is not None
    op = UpscaleCreative(
        **_prompted(body), image=image, creativity=body.creativity, style_preset=body.style_preset
    )
    handle = await _start(request, services, credentials, "upscale-creative", op)
    # async submits answer 200 with the id, whatever Accept says (reference §6.1)
    return GenerationID(id=handle.id)


def _prompted(body: p.PromptedBody) -> dict[str, Any]:
    return {
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "seed": body.seed,
        "output_format": body.output_format,
    }


async def _form(request: Request) -> ParsedForm:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest(
            f"content-type: must be multipart/form-data, got {content_type or 'nothing'}"
        )
    return await read_form(
        request, file_fields=IMAGE_FIELDS, max_files=MAX_FILES, max_fields=MAX_FIELDS
    )


async def _image(
    form: ParsedForm, field: str, services: AppServices, *, required: bool
) -> Image.Image | None:
    data = form.files.get(field)
    if data is None:
        if required:
            raise InvalidRequest(f"{field}: is required")
        return None
    limit = services.settings.generation.max_input_pixels
    return await anyio.to_thread.run_sync(lambda: decode_image(data, field, max_pixels=limit))


async def _sync(
    request: Request,
    services: AppServices,
    credentials: RequestCredentials,
    engine_id: str,
    op: OperationRequest,
    as_json: bool,
) -> Response:
    handle = await _start(request, services, credentials, engine_id, op)
    (output,) = await jobflow.run_to_completion(request, services, handle)
    return render_output(output, as_json=as_json)


async def _start(
    request: Request,
    services: AppServices,
    credentials: RequestCredentials,
    engine_id: str,
    op: OperationRequest,
) -> JobHandle:
    """Authenticate (after validation, as Stability does), then start the job."""
    principal = await get_principal(request, services, credentials)
    try:
        return await jobflow.start(request, services, principal, engine_id, op)
    except PromptRejected as exc:  # v2beta answers a refused prompt with 422
        raise Unprocessable(exc.message, name=exc.name) from exc
