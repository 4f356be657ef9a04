"""Input images: safe decoding of uploads and masks, with Stability's error names."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from easel.errors import InvalidRequest

ACCEPTED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The IEND chunk is always empty, so its bytes (with its CRC) are fixed.
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x start, y start, x step, y step)
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def decode_image(data: bytes, field: str, *, max_pixels: int) -> Image.Image:
    """Decode a PNG/JPEG/WebP upload, fully loaded, refusing bombs and broken files."""
    if not data:
        raise InvalidRequest(f"{field}: the file is empty", name="invalid_file_size")
    try:
        with warnings.catch_warnings():
            # Pillow only warns about decompression bombs below its hard limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the accepted formats' parsers ever see the bytes.
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
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
            if image.format == "PNG":
                _check_png_structure(data, field)
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


def _check_png_structure(data: bytes, field: str) -> None:
    """Refuse what Pillow lets through: pixel data that ends early (Pillow fills the
    rest with black) and bytes after the image's end (a PNG+ZIP polyglot)."""
    if not data.endswith(_PNG_IEND):
        raise InvalidRequest(
            f"{field}: the image data is corrupt or truncated (the PNG does not end with "
            "its IEND chunk: cut short, or something appended)"
        )
    header = data[len(_PNG_SIGNATURE) + 8 : len(_PNG_SIGNATURE) + 21]
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    bits = depth * _PNG_CHANNELS.get(color, 4)
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            expected += rows * (1 + -(-columns * bits // 8))  # a filter byte per row
    inflater = zlib.decompressobj()
    got = 0
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 8 + length
        if end + 4 > len(data):
            raise InvalidRequest(f"{field}: the PNG is truncated inside its {kind!r} chunk")
        body = data[position + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(kind + body) != crc:
            raise InvalidRequest(f"{field}: the PNG's {kind!r} chunk fails its CRC check")
        if kind == b"IDAT" and got <= expected:
            try:
                # bounded: never inflate more than the image can hold
                got += len(inflater.decompress(body, expected - got + 1))
            except zlib.error as exc:
                raise InvalidRequest(f"{field}: the image data is corrupt ({exc})") from exc
        position += 12 + length
    if got < expected:
        raise InvalidRequest(
            f"{field}: the PNG holds {got:,} bytes of pixel data where {width}x{height} "
            f"needs {expected:,} (truncated?)"
        )
