"""`POST /v2beta/image-to-video` (reference §3.19): asynchronous, results at `/v2beta/results/{id}`.

The image must be exactly 1024x576, 576x1024 or 768x768, PNG or JPEG. The
submit answers 200 `{id}` whatever `Accept` says; the result (see `results`)
is the MP4's bytes under `video/*` or `{video, finish_reason, seed}` as JSON.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from easel.api.deps import AppServices, RequestCredentials
from easel.api.v2beta import common
from easel.api.v2beta import openapi as docs
from easel.api.v2beta import params as p
from easel.api.v2beta.schemas import GenerationID
from easel.errors import InvalidRequest
from easel.generation.media import ImageToVideo

router = APIRouter(prefix="/v2beta", tags=["v2beta/image-to-video"])

ENGINE = "stable-video-diffusion"
IMAGE = "The first frame: PNG or JPEG of exactly 1024x576, 576x1024 or 768x768 pixels."


@router.post(
    "/image-to-video",
    openapi_extra=docs.body(p.ImageToVideoBody, files={"image": IMAGE}),
    responses=docs.async_responses(*docs.STABLE_IMAGE_ERRORS),
)
async def image_to_video(
    request: Request, services: AppServices, credentials: RequestCredentials
) -> GenerationID:
    """Asynchronous: a short video that starts from the image; poll `/v2beta/results/{id}`."""
    form = await common.form(request)
    body = p.validate_form(p.ImageToVideoBody, form.fields)
    image = await common.image(form, "image", services, required=True)
    assert image is not None
    if image.format not in ("PNG", "JPEG"):
        raise InvalidRequest(
            f"image: must be a PNG or JPEG image, got {image.format}", name="invalid_mime_type"
        )
    op = ImageToVideo(
        image=image,
        seed=body.seed,
        cfg_scale=body.cfg_scale,
        motion_bucket_id=body.motion_bucket_id,
    )
    handle = await common.start(request, services, credentials, ENGINE, op)
    return GenerationID(id=handle.id)
