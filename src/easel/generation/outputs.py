"""Output encoding: generated images as PNG, JPEG or WebP bytes.

PNGs carry how they were made (engine, prompts, size, steps, sampler, seed)
in a `parameters` text chunk, as other Stable Diffusion tools do; JPEG and
WebP carry no metadata, as Stability's own outputs don't.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, PngImagePlugin

OutputFormat = Literal["png", "jpeg", "webp"]

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    media_type: str
    extension: str


def encode_image(
    image: Image.Image,
    output_format: OutputFormat = "png",
    *,
    parameters: dict[str, Any] | None = None,
) -> EncodedImage:
    """`image` in `output_format`; a PNG records `parameters` in a text chunk."""
    buffer = io.BytesIO()
    if output_format == "png":
        info = PngImagePlugin.PngInfo()
        if parameters is not None:
            info.add_text("parameters", json.dumps(parameters, sort_keys=True))
        image.save(buffer, format="PNG", pnginfo=info)
    elif output_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="WEBP", quality=95)
    return EncodedImage(buffer.getvalue(), MEDIA_TYPES[output_format], output_format)


def encode_png(image: Image.Image, parameters: dict[str, Any]) -> bytes:
    """PNG bytes of an RGB image with `parameters` in its text chunk."""
    return encode_image(image.convert("RGB"), "png", parameters=parameters).data
