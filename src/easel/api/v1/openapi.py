"""What the v1 generation routes declare beyond their path: body, headers, responses.

The routes read these by hand (see `easel.api.openapi` for why); the decorators
call the helpers here so that the document says what the code does.
"""

from __future__ import annotations

from pydantic import BaseModel

from easel.api.openapi import (
    Fragment,
    Responses,
    binary_response,
    error_responses,
    header,
    json_body,
    multipart_body,
    operation,
)
from easel.api.v1.schemas import GenerationResponseBody

ACCEPT = header(
    "Accept",
    "The format of the response. Leave blank for JSON, or set to `image/png` for the PNG "
    "bytes of a single image (`samples` must then be 1).",
    {"type": "string", "enum": ["application/json", "image/png"], "default": "application/json"},
)
IDEMPOTENCY_KEY = header(
    "Idempotency-Key",
    "easel extension: a retry with the same key and the same parameters returns the "
    "generation the first request started instead of starting (and charging) another; "
    "1-255 characters. The same key with other parameters is a 409.",
    {"type": "string", "minLength": 1, "maxLength": 255},
)

INIT_IMAGE = (
    "Image used to initialize the diffusion process, in lieu of random noise (PNG, JPEG or WebP)."
)
MASK_IMAGE = (
    "Grayscale mask with the dimensions of `init_image`; `mask_source` says whether its "
    "white or its black pixels are repainted. Required unless `mask_source` is "
    "INIT_IMAGE_ALPHA."
)
UPSCALE_IMAGE = "The image to upscale (PNG, JPEG or WebP)."
MULTIPART_FIELDS = (
    "One part per field. Prompts go in text parts named `text_prompts[N][text]` and "
    "`text_prompts[N][weight]` (a later duplicate index overrides an earlier one), and "
    "`extras` as a JSON string, as in Stability's spec. Unknown parts are ignored."
)


def json_generation(model: type[BaseModel]) -> Fragment:
    """`openapi_extra` of a generation route that takes a JSON body."""
    return operation(json_body(model), parameters=(ACCEPT, IDEMPOTENCY_KEY))


def multipart_generation(
    model: type[BaseModel], *, files: dict[str, str], required_files: tuple[str, ...]
) -> Fragment:
    """`openapi_extra` of a generation route that takes a multipart body with images."""
    return operation(
        multipart_body(
            model, files=files, required_files=required_files, description=MULTIPART_FIELDS
        ),
        parameters=(ACCEPT, IDEMPOTENCY_KEY),
    )


def generation_responses() -> Responses:
    """The 200 (JSON artifacts or PNG) and every error a generation route can answer."""
    return {
        200: binary_response(
            "The generated images: JSON with base64 artifacts, or the bytes of the image "
            "when `Accept` is `image/png`.",
            json_model=GenerationResponseBody,
            headers={
                "Finish-Reason": {
                    "description": "SUCCESS, ERROR or CONTENT_FILTERED; only on PNG responses.",
                    "schema": {"type": "string", "enum": ["SUCCESS", "ERROR", "CONTENT_FILTERED"]},
                },
                "Seed": {
                    "description": "The seed of the image; only on PNG responses.",
                    "schema": {"type": "integer"},
                },
            },
        ),
        **error_responses(400, 401, 402, 403, 404, 409, 413, 429, 500, 503),
    }
