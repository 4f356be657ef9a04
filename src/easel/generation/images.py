"""Input images: safe decoding of uploads and masks, with Stability's error names."""

from __future__ import annotations

import io
import warnings
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from easel.errors import InvalidRequest

ACCEPTED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def decode_image(data: bytes, field: str, *, max_pixels: int) -> Image.Image:
    """Decode a PNG/JPEG/WebP upload, fully loaded, refusing bombs and broken files."""
    if not data:
        raise InvalidRequest(f"{field}: the file is empty", name="invalid_file_size")
    try:
        with warnings.catch_warnings():
            # Pillow only warns about decompression bombs below its hard limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise InvalidRequest(
                    f"{field}: must be a PNG, JPEG or WebP image, got {image.format}",
                    name="invalid_mime_type",
                )
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidRequest(
                    f"{field}: {width}x{height} is larger than the maximum of "
                    f"{max_pixels:,} pixels",
                    name="invalid_image_dimensions",
                )
            image.load()
    except UnidentifiedImageError as exc:
        raise InvalidRequest(
            f"{field}: not a recognised image (PNG, JPEG or WebP expected)",
            name="invalid_mime_type",
        ) from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InvalidRequest(
            f"{field}: image is too large to decode", name="invalid_image_dimensions"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(f"{field}: the image data is corrupt or truncated") from exc
    return image


MaskSource = Literal["MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA"]


def mask_from_source(
    source: MaskSource, init: Image.Image, mask_image: Image.Image | None
) -> Image.Image:
    """The mask as mode "L" where white marks pixels to repaint.

    `INIT_IMAGE_ALPHA` reads the init image's transparency; the other sources
    read `mask_image`, white (or black) marking what to repaint.
    """
    if source == "INIT_IMAGE_ALPHA":
        if "A" not in init.getbands():
            raise InvalidRequest(
                "init_image: mask_source INIT_IMAGE_ALPHA needs an init_image with an alpha "
                "channel",
                name="invalid_mask_image",
            )
        # transparent pixels are the ones to replace
        return ImageOps.invert(init.getchannel("A"))
    if mask_image is None:
        raise InvalidRequest(
            f"mask_image: is required when mask_source is {source}", name="invalid_mask_image"
        )
    mask = mask_image.convert("L")
    if mask.size != init.size:
        raise InvalidRequest(
            f"mask_image: must have the same dimensions as init_image ({init.width}x"
            f"{init.height}), got {mask.width}x{mask.height}",
            name="invalid_image_dimensions",
        )
    return ImageOps.invert(mask) if source == "MASK_IMAGE_BLACK" else mask
