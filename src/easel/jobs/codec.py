"""A `GenerationRequest` as durable data: JSON parameters plus PNG input blobs.

Any worker process (local or remote) rebuilds the request from the job row
and the artifact store alone. The parameter hash covers the parameters and
the input pixels, so an idempotent retry with other images is told apart.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image

from easel.engines.base import GenerationRequest, WeightedPrompt

_IMAGE_FIELDS = ("init_image", "mask")


@dataclass(frozen=True)
class EncodedRequest:
    params: dict[str, Any]
    blobs: dict[str, bytes]  # field name -> PNG bytes
    params_hash: str


def encode_request(
    engine_id: str, request: GenerationRequest, *, requested_seed: int
) -> EncodedRequest:
    """Encode `request`; `requested_seed` is the seed the client asked for (0 = random)."""
    params: dict[str, Any] = {
        "engine_id": engine_id,
        "kind": request.kind,
        "prompts": [[p.text, p.weight] for p in request.prompts],
        "width": request.width,
        "height": request.height,
        "seeds": list(request.seeds),
        "steps": request.steps,
        "cfg_scale": request.cfg_scale,
        "sampler": request.sampler,
        "style_preset": request.style_preset,
        "image_strength": request.image_strength,
        "step_schedule_start": request.step_schedule_start,
        "step_schedule_end": request.step_schedule_end,
        "extras": request.extras,
    }
    blobs: dict[str, bytes] = {}
    digest = hashlib.sha256()
    for field in _IMAGE_FIELDS:
        image: Image.Image | None = getattr(request, field)
        if image is None:
            continue
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        blobs[field] = buffer.getvalue()
        digest.update(field.encode())
        digest.update(f"{image.mode}{image.size}".encode())
        digest.update(image.tobytes())
    params["inputs"] = sorted(blobs)
    # Random seeds differ on every retry, so the hash covers the seed asked for.
    hashable = {k: v for k, v in params.items() if k != "seeds"}
    hashable |= {"requested_seed": requested_seed, "samples": len(request.seeds)}
    digest.update(json.dumps(hashable, sort_keys=True).encode())
    return EncodedRequest(params=params, blobs=blobs, params_hash=digest.hexdigest())


def decode_request(params: dict[str, Any], blobs: dict[str, bytes]) -> GenerationRequest:
    images = {field: Image.open(io.BytesIO(data)).copy() for field, data in blobs.items()}
    return GenerationRequest(
        kind=params["kind"],
        prompts=[WeightedPrompt(text, weight) for text, weight in params["prompts"]],
        width=params["width"],
        height=params["height"],
        seeds=params["seeds"],
        steps=params["steps"],
        cfg_scale=params["cfg_scale"],
        sampler=params["sampler"],
        style_preset=params["style_preset"],
        image_strength=params["image_strength"],
        step_schedule_start=params["step_schedule_start"],
        step_schedule_end=params["step_schedule_end"],
        extras=params["extras"],
        init_image=images.get("init_image"),
        mask=images.get("mask"),
    )
