"""`/v2beta/stable-image/control/…`: sketch, structure, style and style transfer (all sync).

Each route validates its body and images, then authenticates and runs the
job (`common`); the engine is the one named after the service.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from easel.api.deps import AppServices, RequestCredentials
from easel.api.v2beta import common
from easel.api.v2beta import openapi as docs
from easel.api.v2beta import params as p
from easel.api.v2beta.render import wants_json
from easel.generation.control import (
    ControlRequest,
    ControlSketch,
    ControlStructure,
    ControlStyle,
    StyleTransfer,
)

router = APIRouter(prefix="/v2beta/stable-image/control", tags=["v2beta/stable-image"])

SKETCH = "stable-image-control-sketch"
STRUCTURE = "stable-image-control-structure"
STYLE = "stable-image-control-style"
STYLE_TRANSFER = "stable-image-style-transfer"

# style-transfer's images have their own part names
TRANSFER_FIELDS = frozenset({"init_image", "style_image", "none"})

_LIMITS = "every side at least 64 pixels, at most 9437184 pixels, aspect 1:2.5 to 2.5:1"
SKETCH_IMAGE = f"The sketch: strokes on a plain background ({_LIMITS})."
STRUCTURE_IMAGE = f"The image whose structure (edges) the output keeps ({_LIMITS})."
STYLE_IMAGE = f"The image whose style the output follows ({_LIMITS})."
INIT_IMAGE = (
    "The content to restyle: each side 64-16383 pixels, 4096-9437184 pixels, aspect 1:2.5 "
    "to 2.5:1; the output has its aspect ratio at about 1 MP."
)
STYLE_REFERENCE = "The style to apply: each side 64-16383 pixels, 4096-9437184 pixels."
_ERRORS = docs.STABLE_IMAGE_ERRORS


@router.post(
    "/sketch",
    openapi_extra=docs.body(p.ControlSketchBody, files={"image": SKETCH_IMAGE}),
    responses=docs.image_responses(*_ERRORS),
)
async def control_sketch(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Control: Sketch: an image from a sketch and a prompt, at the sketch's size."""
    return await _control(
        request, services, credentials, ControlSketch, p.ControlSketchBody, SKETCH
    )


@router.post(
    "/structure",
    openapi_extra=docs.body(p.ControlStructureBody, files={"image": STRUCTURE_IMAGE}),
    responses=docs.image_responses(*_ERRORS),
)
async def control_structure(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Control: Structure: a new image that keeps the input's structure, at its size."""
    return await _control(
        request, services, credentials, ControlStructure, p.ControlStructureBody, STRUCTURE
    )


async def _control(
    request: Request,
    services: AppServices,
    credentials: RequestCredentials,
    operation: type[ControlRequest],
    body_model: type[p.ControlBody],
    engine_id: str,
) -> Response:
    form = await common.form(request)
    body = p.validate_form(body_model, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = operation(
        **common.prompted(body),
        image=image,
        control_strength=body.control_strength,
        style_preset=body.style_preset,
    )
    return await common.run_sync(request, services, credentials, engine_id, op, as_json)


@router.post(
    "/style",
    openapi_extra=docs.body(p.ControlStyleBody, files={"image": STYLE_IMAGE}),
    responses=docs.image_responses(*_ERRORS),
)
async def control_style(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Control: Style: a 1 MP image from a prompt in the style of a reference image."""
    form = await common.form(request)
    body = p.validate_form(p.ControlStyleBody, form.fields)
    as_json = wants_json(request)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    op = ControlStyle(
        **common.prompted(body),
        image=image,
        aspect_ratio=body.aspect_ratio,
        fidelity=body.fidelity,
        style_preset=body.style_preset,
    )
    return await common.run_sync(request, services, credentials, STYLE, op, as_json)


@router.post(
    "/style-transfer",
    openapi_extra=docs.body(
        p.StyleTransferBody, files={"init_image": INIT_IMAGE, "style_image": STYLE_REFERENCE}
    ),
    responses=docs.image_responses(*_ERRORS),
)
async def style_transfer(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> Response:
    """Style Transfer: `init_image` redrawn in the style of `style_image`, about 1 MP."""
    form = await common.form(request, TRANSFER_FIELDS)
    body = p.validate_form(p.StyleTransferBody, form.fields)
    as_json = wants_json(request)
    init_image = await common.image(form, "init_image", services, required=True)
    style_image = await common.image(form, "style_image", services, required=True)
    assert init_image is not None and style_image is not None
    op = StyleTransfer(
        **common.prompted(body),
        init_image=init_image,
        style_image=style_image,
        style_strength=body.style_strength,
        composition_fidelity=body.composition_fidelity,
        change_strength=body.change_strength,
    )
    return await common.run_sync(request, services, credentials, STYLE_TRANSFER, op, as_json)
