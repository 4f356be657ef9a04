"""`/v1/generation/{engine_id}/…`: text-to-image, image-to-image, masking, upscale."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from PIL import Image, ImageOps

from easel.api import jobflow
from easel.api.deps import AppServices, CurrentPrincipal
from easel.api.forms import read_form
from easel.api.images import decode_image
from easel.api.v1 import params as p
from easel.api.v1.artifacts import RenderedArtifact, render_artifacts, wants_png
from easel.engines.base import EngineSpec, GenerationKind, GenerationRequest, WeightedPrompt
from easel.engines.dimensions import check_dimensions, upscale_size
from easel.errors import InvalidRequest
from easel.jobs.seeds import resolve_seeds

router = APIRouter(prefix="/v1/generation", tags=["v1/generation"])

MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 256
# Parts under these names are files even without a filename, as Go and Node clients send them.
IMAGE_FIELDS = frozenset({"init_image", "mask_image", "image"})


@router.post("/{engine_id}/text-to-image")
async def text_to_image(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Generate a new image from a text prompt."""
    spec = services.jobs.engine_for(engine_id, "text-to-image")
    body = p.validate_body(p.TextToImageRequestBody, p.parse_json(await request.body()))
    as_png = _check_accept(request, body.samples)
    check_dimensions(spec.family, body.width, body.height)
    generation = _request("text-to-image", body, width=body.width, height=body.height)
    return await _run(request, services, principal, spec, generation, as_png, body.seed)


@router.post("/{engine_id}/image-to-image")
async def image_to_image(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Produce an image from an existing image and a text prompt."""
    spec = services.jobs.engine_for(engine_id, "image-to-image")
    fields, files = await _form(request)
    body = p.validate_body(p.ImageToImageRequestBody, fields)
    as_png = _check_accept(request, body.samples)
    init = (await _decode(files, "init_image", services)).convert("RGB")
    check_dimensions(spec.family, init.width, init.height, subject="init_image")
    schedule: tuple[float | None, float | None]
    if body.init_image_mode == "STEP_SCHEDULE":
        strength = 1 - body.step_schedule_start
        schedule = (body.step_schedule_start, body.step_schedule_end)
    else:
        strength, schedule = body.image_strength, (None, None)
    generation = _request(
        "image-to-image",
        body,
        width=init.width,
        height=init.height,
        init_image=init,
        image_strength=strength,
        step_schedule_start=schedule[0],
        step_schedule_end=schedule[1],
    )
    return await _run(request, services, principal, spec, generation, as_png, body.seed)


@router.post("/{engine_id}/image-to-image/masking")
async def masking(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Selectively modify portions of an image using a mask."""
    spec = services.jobs.engine_for(engine_id, "masking")
    fields, files = await _form(request)
    body = p.validate_body(p.MaskingRequestBody, fields)
    as_png = _check_accept(request, body.samples)
    init = await _decode(files, "init_image", services)
    check_dimensions(spec.family, init.width, init.height, subject="init_image")
    mask = await anyio.to_thread.run_sync(_mask, body.mask_source, init, files, services)
    generation = _request(
        "masking",
        body,
        width=init.width,
        height=init.height,
        init_image=init.convert("RGB"),
        mask=mask,
    )
    return await _run(request, services, principal, spec, generation, as_png, body.seed)


@router.post("/{engine_id}/image-to-image/upscale")
async def upscale(
    engine_id: str, request: Request, principal: CurrentPrincipal, services: AppServices
) -> Response:
    """Create a higher resolution version of an input image."""
    spec = services.jobs.engine_for(engine_id, "upscale")
    fields, files = await _form(request)
    body = p.validate_body(p.UpscaleRequestBody, fields)
    as_png = _check_accept(request, 1)
    image = (await _decode(files, "image", services)).convert("RGB")
    width, height = upscale_size(
        image.width, image.height, target_width=body.width, target_height=body.height
    )
    generation = GenerationRequest(
        kind="upscale",
        prompts=[WeightedPrompt(t.text, t.weight) for t in body.text_prompts or []],
        width=width,
        height=height,
        seeds=resolve_seeds(body.seed, 1),
        steps=body.steps,
        cfg_scale=body.cfg_scale,
        init_image=image,
    )
    return await _run(request, services, principal, spec, generation, as_png, body.seed)


def _check_accept(request: Request, samples: int) -> bool:
    as_png = wants_png(request.headers.get("accept"))
    if as_png and samples > 1:
        raise InvalidRequest(
            "samples: may only be greater than 1 when the accept header is set to application/json",
            name="invalid_samples",
        )
    return as_png


def _request(
    kind: GenerationKind,
    body: p.GenerationRequestOptionalParams,
    **fields: Any,
) -> GenerationRequest:
    if not any(t.weight > 0 and t.text.strip() for t in body.text_prompts):
        raise InvalidRequest("text_prompts: at least one prompt with a positive weight is required")
    return GenerationRequest(
        kind=kind,
        prompts=[WeightedPrompt(t.text, t.weight) for t in body.text_prompts],
        seeds=resolve_seeds(body.seed, body.samples),
        steps=body.steps,
        cfg_scale=body.cfg_scale,
        sampler=body.sampler,
        style_preset=body.style_preset,
        extras=dict(body.extras or {}),
        **fields,
    )


async def _form(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    form = await read_form(
        request, file_fields=IMAGE_FIELDS, max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS
    )
    return p.fold_form(form.fields), form.files


async def _decode(files: dict[str, bytes], field: str, services: AppServices) -> Image.Image:
    """Decode off the event loop: a 10 MiB PNG takes long enough to stall other requests."""
    return await anyio.to_thread.run_sync(_image, files, field, services)


def _image(files: dict[str, bytes], field: str, services: AppServices) -> Image.Image:
    data = files.get(field)
    if data is None:
        raise InvalidRequest(f"{field}: is required")
    return decode_image(data, field, max_pixels=services.settings.generation.max_input_pixels)


def _mask(
    source: p.MaskSource, init: Image.Image, files: dict[str, bytes], services: AppServices
) -> Image.Image:
    """The mask as mode "L" where white marks pixels to repaint."""
    if source == "INIT_IMAGE_ALPHA":
        if "A" not in init.getbands():
            raise InvalidRequest(
                "init_image: mask_source INIT_IMAGE_ALPHA needs an init_image with an alpha "
                "channel",
                name="invalid_mask_image",
            )
        # transparent pixels are the ones to replace
        return ImageOps.invert(init.getchannel("A"))
    if "mask_image" not in files:
        raise InvalidRequest(
            f"mask_image: is required when mask_source is {source}", name="invalid_mask_image"
        )
    mask = _image(files, "mask_image", services).convert("L")
    if mask.size != init.size:
        raise InvalidRequest(
            f"mask_image: must have the same dimensions as init_image ({init.width}x"
            f"{init.height}), got {mask.width}x{mask.height}",
            name="invalid_image_dimensions",
        )
    return ImageOps.invert(mask) if source == "MASK_IMAGE_BLACK" else mask


async def _run(
    request: Request,
    services: AppServices,
    principal: CurrentPrincipal,
    spec: EngineSpec,
    generation: GenerationRequest,
    as_png: bool,
    requested_seed: int,
) -> Response:
    handle = await jobflow.submit(
        request, services, principal, spec, generation, requested_seed=requested_seed
    )
    finished = await jobflow.run_to_completion(request, handle)
    artifacts = await anyio.to_thread.run_sync(
        lambda: [
            RenderedArtifact(services.jobs.artifact_bytes(a.key), a.seed, a.finish_reason)
            for a in finished.artifacts
        ]
    )
    return render_artifacts(artifacts, as_png=as_png)
