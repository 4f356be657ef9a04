"""`/v2beta/stable-image/edit/…`: parse, call the generation service, render.

Every edit answers an image at the input's size (outpaint: plus what it
adds). All are synchronous but replace-background-and-relight, which answers
200 `{id}` and leaves the image to `/v2beta/results/{id}` (see `results`).
Validation first, then authentication (see `common`). Each service runs on
its own engine, which sets its price (reference §2).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from easel.api.deps import AppServices, RequestCredentials
from easel.api.v2beta import common
from easel.api.v2beta import openapi as docs
from easel.api.v2beta import params as p
from easel.api.v2beta.render import wants_json
from easel.api.v2beta.schemas import GenerationID
from easel.generation.edit import (
    Erase,
    Inpaint,
    Outpaint,
    RemoveBackground,
    SearchAndRecolor,
    SearchAndReplace,
    SearchEdit,
    check_sides,
    edit_mask,
)
from easel.generation.relight import ReplaceBackgroundAndRelight, check_relight_inputs

router = APIRouter(prefix="/v2beta/stable-image/edit", tags=["v2beta/stable-image/edit"])

ERASE = "stable-image-erase"
INPAINT = "stable-image-inpaint"
OUTPAINT = "stable-image-outpaint"
SEARCH_AND_REPLACE = "stable-image-search-and-replace"
SEARCH_AND_RECOLOR = "stable-image-search-and-recolor"
REMOVE_BACKGROUND = "stable-image-remove-background"
RELIGHT = "stable-image-replace-background-and-relight"

MASKED_FIELDS = frozenset({"image", "mask", "none"})
EDIT_IMAGE = "The image to edit: every side at least 64 pixels, 4096-9437184 pixels."
ASPECT_IMAGE = EDIT_IMAGE[:-1] + ", aspect 1:2.5 to 2.5:1."
MASK = (
    "Optional grayscale mask, resized to the image: black keeps, white repaints fully. "
    "Without it the image's alpha channel is the mask (transparent is repainted)."
)
MASKED_FILES = {"image": EDIT_IMAGE, "mask": MASK}
RELIGHT_FILES = {
    "subject_image": "The image whose subject is kept: every side at least 64 pixels, "
    "4096-9437184 pixels, aspect 1:2.5 to 2.5:1.",
    "background_reference": "An image the new background takes its look from (this or "
    "`background_prompt` is required): every side at least 64 pixels, 4096-9437184 pixels.",
    "light_reference": "An image whose bright parts are where the output is lit: every side "
    "at least 64 pixels, 4096-9437184 pixels.",
}
RELIGHT_FIELDS = frozenset({*RELIGHT_FILES, "none"})


@router.post(
    "/erase",
    openapi_extra=docs.body(p.EraseBody, files=MASKED_FILES),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def erase(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Erase: remove what the mask covers, filling it in from its surroundings."""
    form = await common.form(request, MASKED_FIELDS)
    body = p.validate_form(p.EraseBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    mask = await common.image(form, "mask", services, required=False)
    assert image is not None
    op = Erase(
        image=image,
        mask=edit_mask(image, mask),
        grow_mask=body.grow_mask,
        seed=body.seed,
        output_format=body.output_format,
    )
    return await common.run_sync(request, services, credentials, ERASE, op, as_json)


@router.post(
    "/inpaint",
    openapi_extra=docs.body(p.InpaintBody, files=MASKED_FILES),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def inpaint(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Inpaint: repaint what the mask covers as the prompt says."""
    form = await common.form(request, MASKED_FIELDS)
    body = p.validate_form(p.InpaintBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    mask = await common.image(form, "mask", services, required=False)
    assert image is not None
    op = Inpaint(
        **common.prompted(body),
        style_preset=body.style_preset,
        image=image,
        mask=edit_mask(image, mask),
        grow_mask=body.grow_mask,
    )
    return await common.run_sync(request, services, credentials, INPAINT, op, as_json)


@router.post(
    "/outpaint",
    openapi_extra=docs.body(p.OutpaintBody, files={"image": ASPECT_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def outpaint(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Outpaint: extend the image in any direction, painting the new area."""
    form = await common.form(request)
    body = p.validate_form(p.OutpaintBody, form.fields)
    as_json = wants_json(request)
    check_sides(body.left, body.right, body.up, body.down)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = Outpaint(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        seed=body.seed,
        output_format=body.output_format,
        style_preset=body.style_preset,
        image=image,
        left=body.left,
        right=body.right,
        up=body.up,
        down=body.down,
        creativity=body.creativity,
    )
    return await common.run_sync(request, services, credentials, OUTPAINT, op, as_json)


@router.post(
    "/search-and-replace",
    openapi_extra=docs.body(p.SearchAndReplaceBody, files={"image": ASPECT_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def search_and_replace(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Search and replace: find what `search_prompt` names and repaint it as the prompt says."""
    return await _search(
        request, services, credentials, p.SearchAndReplaceBody, SearchAndReplace, SEARCH_AND_REPLACE
    )


@router.post(
    "/search-and-recolor",
    openapi_extra=docs.body(p.SearchAndRecolorBody, files={"image": ASPECT_IMAGE}),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def search_and_recolor(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Search and recolor: find what `select_prompt` names and recolour it as the prompt says."""
    return await _search(
        request, services, credentials, p.SearchAndRecolorBody, SearchAndRecolor, SEARCH_AND_RECOLOR
    )


@router.post(
    "/remove-background",
    openapi_extra=docs.body(
        p.RemoveBackgroundBody,
        files={"image": "The image: every side at least 64 pixels, 4096-4194304 pixels."},
    ),
    responses=docs.image_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def remove_background(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Remove background: the subject on a transparent background (PNG or WebP)."""
    form = await common.form(request)
    body = p.validate_form(p.RemoveBackgroundBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = RemoveBackground(image=image, output_format=body.output_format)
    return await common.run_sync(request, services, credentials, REMOVE_BACKGROUND, op, as_json)


@router.post(
    "/replace-background-and-relight",
    openapi_extra=docs.body(p.ReplaceBackgroundAndRelightBody, files=RELIGHT_FILES),
    responses=docs.async_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def replace_background_and_relight(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> GenerationID:
    """Asynchronous: a new background behind the subject, relit; poll `/v2beta/results/{id}`."""
    form = await common.form(request, RELIGHT_FIELDS)
    body = p.validate_form(p.ReplaceBackgroundAndRelightBody, form.fields)
    subject = await common.image(form, "subject_image", services, required=True)
    background = await common.image(form, "background_reference", services, required=False)
    light = await common.image(form, "light_reference", services, required=False)
    assert subject is not None
    # the default strength applies only with a light; sent without one, it is an error
    strength = (
        body.light_source_strength if "light_source_strength" in body.model_fields_set else None
    )
    check_relight_inputs(
        background_prompt=body.background_prompt,
        background_reference=background is not None,
        light_source_direction=body.light_source_direction,
        light_reference=light is not None,
        light_source_strength=strength,
    )
    op = ReplaceBackgroundAndRelight(
        subject_image=subject,
        background_prompt=body.background_prompt,
        background_reference=background,
        foreground_prompt=body.foreground_prompt,
        negative_prompt=body.negative_prompt,
        preserve_original_subject=body.preserve_original_subject,
        original_background_depth=body.original_background_depth,
        keep_original_background=body.keep_original_background == "true",
        light_source_direction=body.light_source_direction,
        light_reference=light,
        light_source_strength=strength,
        seed=body.seed,
        output_format=body.output_format,
    )
    handle = await common.start(request, services, credentials, RELIGHT, op)
    # async submits answer 200 with the id, whatever Accept says (reference §6.1)
    return GenerationID(id=handle.id)


async def _search(
    request: Request,
    services: AppServices,
    credentials: RequestCredentials,
    body_type: type[p.SearchBody],
    op_type: type[SearchEdit],
    engine_id: str,
) -> Response:
    form = await common.form(request)
    body = p.validate_form(body_type, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = op_type(
        **common.prompted(body),
        style_preset=body.style_preset,
        image=image,
        grow_mask=body.grow_mask,
        **{op_type.FINDER: getattr(body, op_type.FINDER)},
    )
    return await common.run_sync(request, services, credentials, engine_id, op, as_json)
