"""What the v2beta routes declare beyond their path: multipart bodies and responses."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from easel.api.openapi import Fragment, Responses, header, multipart_body, operation
from easel.api.v2beta.schemas import GenerationID, ImageResponse, InProgress, V2betaError

ACCEPT = header(
    "Accept",
    "`image/*` (the default) for the image's bytes in `output_format`, with `finish-reason` "
    "and `seed` headers; `application/json` for `{image, finish_reason, seed}`.",
    {"type": "string", "enum": ["image/*", "application/json"], "default": "image/*"},
)
IDEMPOTENCY_KEY = header(
    "Idempotency-Key",
    "easel extension: a retry with the same key and parameters returns the first request's "
    "generation instead of starting (and charging) another; 1-255 characters.",
    {"type": "string", "minLength": 1, "maxLength": 255},
)
FIELDS = (
    "One text part per field (numbers as decimal strings) and one file part per image; a "
    "file part needs no filename. Unknown parts are ignored."
)
GENERATE_IMAGE = (
    "Optional image to start from (PNG, JPEG or WebP; each side 64-16384 pixels, at least "
    "4096 pixels); requires `strength`."
)
SD3_IMAGE = "The image to start from when `mode` is image-to-image (every side at least 64)."
UPSCALE_FAST_IMAGE = "The image to upscale 4x: each side 32-1536, 1024-1048576 pixels."
UPSCALE_IMAGE = "The image to upscale: every side at least 64 pixels, aspect 1:2.5 to 2.5:1."

_DESCRIPTIONS: Mapping[int, str] = {
    400: "bad_request: one or more parameters are invalid (one entry per problem)",
    401: "unauthorized: API key missing or invalid",
    402: "insufficient_balance: the organization's credits do not cover the request",
    403: "permission_denied: the key's user is not a member of the requested organization",
    404: "generation_not_found: no such generation for this key, or it has expired",
    409: "idempotency_key_reused: the Idempotency-Key was used with other parameters; or "
    "cancelled: the generation was cancelled",
    413: "payload_too_large: the request body is over 10 MiB",
    422: "invalid_prompts: the prompt was refused by the content filter (not charged)",
    429: "rate_limit_exceeded: too many requests",
    500: "server_error: an unexpected server error occurred",
    503: "server_overloaded, broker_unavailable, rate_limiter_unavailable or out_of_memory: "
    "the server cannot take the request now",
}
# What every stable-image POST can answer: validation, auth, credits, idempotency, body
# size, the prompt filter, limits, and a full queue.
STABLE_IMAGE_ERRORS = (400, 401, 402, 403, 409, 413, 422, 429, 500, 503)


def body(model: type[BaseModel], *, files: Mapping[str, str] | None = None) -> Fragment:
    """`openapi_extra` of a stable-image route: a multipart body and its headers."""
    return operation(
        multipart_body(model, files=dict(files or {}), description=FIELDS),
        parameters=(ACCEPT, IDEMPOTENCY_KEY),
    )


def errors(*statuses: int) -> Responses:
    return {s: {"model": V2betaError, "description": _DESCRIPTIONS[s]} for s in statuses}


def _image_ok() -> dict[str, object]:
    return {
        "description": "The image: its bytes (`Accept: image/*`) or JSON.",
        "model": ImageResponse,
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("image/png", "image/jpeg", "image/webp")
        },
        "headers": {
            "finish-reason": {
                "description": "SUCCESS or CONTENT_FILTERED (bytes responses only).",
                "schema": {"type": "string", "enum": ["SUCCESS", "CONTENT_FILTERED"]},
            },
            "seed": {"description": "The image's seed.", "schema": {"type": "string"}},
        },
    }


def image_responses(*statuses: int) -> Responses:
    return {200: _image_ok(), **errors(*statuses)}


def async_responses(*statuses: int) -> Responses:
    return {
        200: {"model": GenerationID, "description": "The generation's id; poll the results."},
        **errors(*statuses),
    }


def result_responses() -> Responses:
    return {
        **image_responses(400, 401, 404, 429, 500, 503),
        202: {"model": InProgress, "description": "Still running; poll again."},
    }
