"""Results of the v2beta operations: one file (image, video or 3D model) in
its real format, read from raw bytes with headers or from the JSON form.

Nothing here does network I/O.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import httpx

from ._errors import APIResponseError
from ._types import read_json

#: File extension of each media type the API answers with.
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "model/gltf-binary": ".glb",
}
# The JSON form names its payload after the media kind.
_JSON_PAYLOADS = ("image", "video", "model")


@dataclass(frozen=True)
class MediaResult:
    """One generated file.

    ``media_type`` is e.g. ``image/png``, ``video/mp4`` or ``model/gltf-binary``;
    ``finish_reason`` is ``SUCCESS`` or ``CONTENT_FILTERED`` (a blurred, still
    billed result); ``seed`` is ``None`` where the server does not say (3D).
    ``generation_id`` is the id of an asynchronous generation, or easel's job
    id from ``X-Generation-Id``.
    """

    data: bytes = field(repr=False)
    media_type: str
    finish_reason: str = "SUCCESS"
    seed: int | None = None
    request_id: str | None = None
    generation_id: str | None = None

    @property
    def extension(self) -> str:
        """``.png``, ``.jpg``, ``.webp``, ``.mp4`` or ``.glb`` (``.bin`` if unknown)."""
        return EXTENSIONS.get(self.media_type, ".bin")

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the file and return its path.

        `path` may be a directory (existing, or written with a trailing
        slash): the file is then named ``{generation id or seed}{extension}``
        inside it. A path without a suffix gets the real extension; parent
        directories are created.
        """
        target = Path(path)
        if target.is_dir() or str(path).endswith(("/", "\\")):
            stem = self.generation_id or f"result-{self.seed if self.seed is not None else 0}"
            target = target / f"{stem}{self.extension}"
        elif not target.suffix:
            target = target.with_suffix(self.extension)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.data)
        return target

    @classmethod
    def from_response(
        cls, response: httpx.Response, *, generation_id: str | None = None
    ) -> MediaResult:
        """Read a 200 answer: raw bytes with ``finish-reason``/``seed`` headers,
        or ``{image|video: base64, finish_reason, seed}`` with
        ``content-type: application/json; type=<media type>``."""
        content_type = response.headers.get("content-type", "application/octet-stream")
        media, _, params = content_type.partition(";")
        media = media.strip().lower()
        request_id = response.headers.get("x-request-id")
        generation_id = generation_id or response.headers.get("x-generation-id")
        if media != "application/json":
            return cls(
                data=response.content,
                media_type=media,
                finish_reason=response.headers.get("finish-reason", "SUCCESS"),
                seed=_seed(response.headers.get("seed")),
                request_id=request_id,
                generation_id=generation_id,
            )
        body = read_json(response)
        payload = next(
            (body[k] for k in _JSON_PAYLOADS if isinstance(body, Mapping) and k in body), None
        )
        if not isinstance(payload, str):
            raise APIResponseError(
                "expected a base64 image or video in the body", response=response
            )
        try:
            data = b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise APIResponseError("result data is not valid base64", response=response) from exc
        return cls(
            data=data,
            media_type=_json_type(params) or "image/png",
            finish_reason=str(body.get("finish_reason", "SUCCESS")),
            seed=_seed(body.get("seed")),
            request_id=request_id,
            generation_id=generation_id,
        )


def _json_type(params: str) -> str | None:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "type" and value:
            return value.strip().lower()
    return None


def _seed(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(float(str(value)))
    except ValueError:
        return None
