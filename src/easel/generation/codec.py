"""An operation request as durable data, and back.

The stored form is JSON (the job row's `params`) plus one PNG blob per input
image; in the JSON an image is a reference, `{"artifact": "in-init_image.png"}`,
relative to the job's folder in the artifact store. Any worker process rebuilds
the request from the row and the artifact store alone.

The idempotency hash covers the stored form and the input pixels, but not the
resolved seeds: a retry of a random-seed request is the same request.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from easel.generation import (  # noqa: F401  (registers their operations)
    control,
    edit,
    media,
    relight,
    stable_image,
)
from easel.generation.requests import OPERATIONS, OperationRequest


@dataclass(frozen=True)
class StoredRequest:
    params: dict[str, Any]
    blobs: dict[str, bytes]  # artifact name (relative to the job) -> PNG bytes

    @property
    def params_hash(self) -> str:
        digest = hashlib.sha256()
        request = {k: v for k, v in self.params["request"].items() if k != "seeds"}
        digest.update(json.dumps([self.params["operation"], request], sort_keys=True).encode())
        for name in sorted(self.blobs):
            digest.update(name.encode())
            digest.update(hashlib.sha256(self.blobs[name]).digest())
        return digest.hexdigest()


def carries_images(request: OperationRequest) -> bool:
    """Whether `encode` has images to compress (else it is cheap enough for the event loop)."""
    return any(getattr(request, field) is not None for field in request.image_fields())


def encode(request: OperationRequest) -> StoredRequest:
    images = request.image_fields()
    data = request.model_dump(mode="json", exclude=set(images))
    blobs: dict[str, bytes] = {}
    for field in images:
        image: Image.Image | None = getattr(request, field)
        if image is None:
            data[field] = None
            continue
        name = f"in-{field}.png"
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        blobs[name] = buffer.getvalue()
        data[field] = {"artifact": name}
    return StoredRequest(params={"operation": request.operation, "request": data}, blobs=blobs)


def decode(params: dict[str, Any], load: Callable[[str], bytes]) -> OperationRequest:
    """Rebuild a request; `load(name)` reads one of the job's input artifacts."""
    try:
        operation = OPERATIONS[params["operation"]]
    except KeyError as exc:
        raise ValueError(f"not a stored operation request: {sorted(params)}") from exc
    data = dict(params["request"])
    for field in operation.image_fields():
        reference = data.get(field)
        if reference is not None:
            image = Image.open(io.BytesIO(load(reference["artifact"])))
            image.load()
            data[field] = image
    return operation.model_validate(data)


def public_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """What a job's owner may read back of its stored request: the operation and every
    field as sent (seeds resolved), with input images named in `input_images` instead of
    their artifact references."""
    data = dict(params.get("request", {}))
    images = sorted(k for k, v in data.items() if isinstance(v, dict) and "artifact" in v)
    for name in images:
        del data[name]
    return {"operation": params.get("operation"), **data, "input_images": images}
