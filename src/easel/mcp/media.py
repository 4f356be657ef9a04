"""Image arguments in, files and image blocks out, for the MCP tools.

An image argument is a local file path or a base64 string (URL-safe or
standard, padding optional). A result is written to the output directory
and shown to the model as an image block, scaled down when large so it
does not fill the model's context.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from pathlib import Path

from easel.client import MediaResult

#: Longest side of the image block sent back to the model.
PREVIEW_MAX_SIDE = 1024
#: Results at most this large (and no larger than PREVIEW_MAX_SIDE) go back as they are.
PREVIEW_MAX_BYTES = 1_000_000


class ImageArgumentError(ValueError):
    """An image argument is neither a readable file nor base64."""


def read_image_argument(value: str, name: str) -> bytes:
    """The bytes of an image argument: a file path, else base64."""
    text = value.strip()
    if len(text) < 4096:
        path = Path(text).expanduser()
        if path.is_file():
            return path.read_bytes()
    if text.startswith("data:") and "," in text:  # a data: URL
        text = text.split(",", 1)[1]
    compact = "".join(text.split())
    padded = compact + "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise ImageArgumentError(
            f"{name}: not a readable file path or a base64 image ({text[:60]!r})"
        )
    return data


def save_result(result: MediaResult, directory: Path, prefix: str) -> Path:
    """Write `result` as ``{prefix}-{timestamp}-{seed or id}{ext}`` in `directory`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tag = result.seed if result.seed is not None else (result.generation_id or "0")[:12]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}-{stamp}-{tag}{result.extension}"
    counter = 1
    while path.exists():  # two results in the same second with the same seed
        path = directory / f"{prefix}-{stamp}-{tag}-{counter}{result.extension}"
        counter += 1
    return result.save(path)


def preview(result: MediaResult) -> tuple[bytes, str] | None:
    """``(bytes, mime type)`` of the image block for `result`; ``None`` for video and 3D."""
    if not result.media_type.startswith("image/"):
        return None
    from PIL import Image  # imported on use: the client install stays light

    with Image.open(io.BytesIO(result.data)) as image:
        small = max(image.size) <= PREVIEW_MAX_SIDE
        if small and len(result.data) <= PREVIEW_MAX_BYTES:
            return result.data, result.media_type
        image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
        buffer = io.BytesIO()
        if image.mode in ("RGBA", "LA", "P"):
            image.save(buffer, format="PNG", optimize=True)
            return buffer.getvalue(), "image/png"
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
        return buffer.getvalue(), "image/jpeg"
