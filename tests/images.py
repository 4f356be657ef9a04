"""Building test images as upload bytes."""

from __future__ import annotations

import io

from PIL import Image

from tests.fakes import noise


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(width: int, height: int, seed: int = 1) -> bytes:
    return png_bytes(noise(width, height, seed))


def mask_png(
    width: int, height: int, *, box: tuple[int, int, int, int], white: bool = True
) -> bytes:
    """A mask that is white (or black) inside `box` and the opposite outside."""
    mask = Image.new("L", (width, height), 0 if white else 255)
    mask.paste(255 if white else 0, box)
    return png_bytes(mask)
