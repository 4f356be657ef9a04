"""Decoding uploaded images safely, with Stability's error names."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

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
