"""What every v2beta route shares: the multipart body, its images, running the job.

Following Stability (reference §1.4, §6.6), a request is validated before its
key is checked: bad parameters with a bad key answer 400, not 401. Nothing is
reserved or run before both pass (`start` authenticates).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anyio
from fastapi import Request, Response
from PIL import Image

from easel.api import jobflow
from easel.api.deps import AppServices, RequestCredentials, get_principal
from easel.api.forms import ParsedForm, read_form
from easel.api.v2beta import params as p
from easel.api.v2beta.render import render_output
from easel.errors import InvalidRequest, Unprocessable
from easel.generation.images import decode_image
from easel.generation.requests import OperationRequest
from easel.jobs.service import JobHandle
from easel.safety.prompts import PromptRejected

MAX_FILES = 4
MAX_FIELDS = 64
# Parts under these names are files even without a filename (Go and Node examples).
IMAGE_FIELDS = frozenset({"image", "none"})


def prompted(body: p.PromptedBody) -> dict[str, Any]:
    """The operation fields every prompted body carries."""
    return {
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "seed": body.seed,
        "output_format": body.output_format,
    }


async def form(request: Request, image_fields: Iterable[str] = IMAGE_FIELDS) -> ParsedForm:
    """The multipart body; `image_fields` are files even without a filename."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest(
            f"content-type: must be multipart/form-data, got {content_type or 'nothing'}"
        )
    return await read_form(
        request, file_fields=frozenset(image_fields), max_files=MAX_FILES, max_fields=MAX_FIELDS
    )


async def image(
    form: ParsedForm, field: str, services: AppServices, *, required: bool
) -> Image.Image | None:
    """The decoded image part `field` (400 if `required` and absent, or not an image)."""
    data = form.files.get(field)
    if data is None:
        if required:
            raise InvalidRequest(f"{field}: is required")
        return None
    limit = services.settings.generation.max_input_pixels
    return await anyio.to_thread.run_sync(lambda: decode_image(data, field, max_pixels=limit))


async def run_sync(
    request: Request,
    services: AppServices,
    credentials: RequestCredentials,
    engine_id: str,
    op: OperationRequest,
    as_json: bool,
) -> Response:
    """Start the job, wait for it and answer its one output, negotiated."""
    handle = await start(request, services, credentials, engine_id, op)
    (output,) = await jobflow.run_to_completion(request, services, handle)
    return await render_output(output, as_json=as_json)


async def start(
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
