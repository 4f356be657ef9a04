"""OpenAPI building blocks for the routers' decorators, and the document's last pass.

Some routes parse their bodies by hand (multipart quirks, Stability's error
bodies), so FastAPI cannot see what they read. The helpers here describe those
bodies with the same pydantic models the routes validate with, and the
responses in Stability's error shape. Decorators pass the results as
`openapi_extra=` and `responses=`.

`install(app)` finishes the document: it moves the body schemas into
`components.schemas` and drops the 422 `HTTPValidationError` responses that
FastAPI adds to every route with parameters, because easel answers invalid
input with a 400 in Stability's shape. (The 422 that v2beta routes declare for
a refused prompt is easel's own and stays.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

Fragment = dict[str, Any]
Responses = dict[int | str, dict[str, Any]]

SCHEMA_PREFIX = "#/components/schemas/"
# What `easel.api.images.decode_image` accepts.
IMAGE_TYPES = "image/png, image/jpeg, image/webp"
# Carries body schemas from an operation's `openapi_extra` to `components`.
_SCHEMAS_KEY = "x-easel-schemas"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


class Error(BaseModel):
    """Stability's v1 error body, as every v1 route answers a failure."""

    id: str = Field(
        description="A unique identifier for this particular occurrence of the problem "
        "(the request id, also sent as the X-Request-Id header).",
        examples=["296a972f666a44a1a3dfc9c28a1f56c0"],
    )
    name: str = Field(
        description="The short-name of this class of errors e.g. `bad_request`.",
        examples=["bad_request"],
    )
    message: str = Field(
        description="A human-readable explanation specific to this occurrence of the problem.",
        examples=["missing authorization header"],
    )


_DESCRIPTIONS: Mapping[int, str] = {
    400: "bad_request (or a named error such as invalid_samples, invalid_height_or_width, "
    "invalid_prompts): one or more parameters are invalid",
    401: "unauthorized: API key missing or invalid",
    402: "insufficient_balance: the organization's credits do not cover the request",
    403: "permission_denied: the key's user is not a member of the requested organization",
    404: "not_found: the requested resource (an engine, a generation) does not exist",
    409: "conflict: the Idempotency-Key was used with other parameters, or the generation "
    "was cancelled (name `cancelled`)",
    413: "payload_too_large: the request body is over the server's limit",
    429: "rate_limit_exceeded: too many requests from this key, or too many queued "
    "generations for this organization",
    500: "server_error: an unexpected server error occurred",
    503: "server_overloaded, broker_unavailable, rate_limiter_unavailable or out_of_memory: "
    "the server cannot take the request now",
}
# Sent with rate limits and overload (not with out_of_memory).
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


def error_responses(*statuses: int) -> Responses:
    """`responses=` entries for the error statuses a route really returns."""
    responses: Responses = {}
    for status in statuses:
        responses[status] = {"model": Error, "description": _DESCRIPTIONS[status]}
        if status in (429, 503):
            responses[status]["headers"] = dict(_RETRY_AFTER)
    return responses


def binary_response(
    description: str,
    *,
    json_model: type[BaseModel] | None = None,
    media_types: tuple[str, ...] = ("image/png",),
    headers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A success response that is binary (`media_types`) or, with `json_model`, JSON."""
    response: dict[str, Any] = {
        "description": description,
        "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types},
    }
    if json_model is not None:
        response["model"] = json_model
    if headers:
        response["headers"] = {name: dict(spec) for name, spec in headers.items()}
    return response


def header(name: str, description: str, schema: Mapping[str, Any] | None = None) -> Fragment:
    """An optional header parameter, for headers a route reads by hand."""
    return {
        "in": "header",
        "name": name,
        "required": False,
        "description": description,
        "schema": dict(schema or {"type": "string"}),
    }


def json_body(model: type[BaseModel]) -> Fragment:
    """`openapi_extra` for a required JSON body that `model` validates."""
    schema, defs = _model_schema(model)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(model.__name__)}},
        },
        _SCHEMAS_KEY: {**defs, model.__name__: schema},
    }


def multipart_body(
    model: type[BaseModel],
    *,
    files: Mapping[str, str],
    required_files: tuple[str, ...] = (),
    description: str | None = None,
) -> Fragment:
    """`openapi_extra` for a `multipart/form-data` body: `model`'s fields as text parts
    plus the binary `files` (part name -> description)."""
    schema, defs = _model_schema(model)
    for name, field in schema["properties"].items():
        schema["properties"][name] = _not_null(field)
    for name, about in files.items():
        schema["properties"][name] = {"type": "string", "format": "binary", "description": about}
    schema["required"] = [*schema.get("required", []), *required_files]
    body: dict[str, Any] = {"required": True}
    if description is not None:
        body["description"] = description
    body["content"] = {
        "multipart/form-data": {
            "schema": _ref(model.__name__),
            "encoding": {name: {"contentType": IMAGE_TYPES} for name in files},
        }
    }
    return {"requestBody": body, _SCHEMAS_KEY: {**defs, model.__name__: schema}}


def operation(*fragments: Fragment, parameters: tuple[Fragment, ...] = ()) -> Fragment:
    """Merge body fragments and extra parameters into one `openapi_extra`."""
    merged: Fragment = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if key == _SCHEMAS_KEY:
                merged.setdefault(key, {}).update(value)
            elif key in merged:
                raise ValueError(f"two fragments both declare {key}")
            else:
                merged[key] = value
    if parameters:
        # FastAPI appends these to the parameters it found in the signature.
        merged["parameters"] = [dict(p) for p in parameters]
    return merged


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the finished document (FastAPI still caches it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        return finish(build())

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Hoist body schemas into components and drop FastAPI's 422 responses.

    Works in place and may run again on a finished document."""
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for item in document.get("paths", {}).values():
        for op in item.values():
            for name, schema in op.pop(_SCHEMAS_KEY, {}).items():
                if schemas.setdefault(name, schema) != schema:
                    raise ValueError(f"two different schemas are both named {name}")
            responses = op.get("responses", {})
            if _is_fastapi_validation_error(responses.get("422")):
                del responses["422"]
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_PREFIX + name}


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    """An optional field as a text part: absent or a value, never null (a multipart part
    has no null; the text `null` is just a string)."""
    options = field.get("anyOf")
    if not options or {"type": "null"} not in options:
        return field
    rest = [option for option in options if option != {"type": "null"}]
    field = {k: v for k, v in field.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest[0], **field} if len(rest) == 1 else {**field, "anyOf": rest}


def _model_schema(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's schema and the schemas it refers to, with refs into components."""
    schema = model.model_json_schema(ref_template=SCHEMA_PREFIX + "{model}", mode="validation")
    defs = schema.pop("$defs", {})
    return schema, defs
