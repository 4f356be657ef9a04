"""Typed results of the v1 API, read from its JSON bodies.

Readers are lenient about extra or missing optional keys (the live API and
easel may add fields) and raise `APIResponseError` only when a required one
is absent or of the wrong type.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import httpx

from ._errors import APIResponseError


@dataclass(frozen=True)
class TextPrompt:
    """One entry of ``text_prompts``; a negative weight makes it a negative prompt."""

    text: str
    weight: float = 1.0


def image_extension(data: bytes) -> str:
    """File extension for image bytes by their magic number (``.png`` if unknown)."""
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".png"


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, JPEG or WebP header; ``None`` if unreadable.

    Header parsing only, so the client needs no imaging library.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return _big_endian(data[16:20]), _big_endian(data[20:24])
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    return None


def _big_endian(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    # Walk the segments to the first start-of-frame marker (SOF0..SOF15 but DHT, JPG, DAC).
    offset = 2
    while offset + 9 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        length = _big_endian(data[offset + 2 : offset + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = _big_endian(data[offset + 5 : offset + 7])
            width = _big_endian(data[offset + 7 : offset + 9])
            return width, height
        offset += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        little = int.from_bytes
        return little(data[24:27], "little") + 1, little(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    return None


@dataclass(frozen=True)
class Artifact:
    """One generated image: base64 data, its seed and finish reason.

    ``finish_reason`` is ``SUCCESS``, ``CONTENT_FILTERED`` (a blurred image,
    still billed) or ``ERROR``.
    """

    base64: str = field(repr=False)
    seed: int
    finish_reason: str

    def to_bytes(self) -> bytes:
        """The decoded image bytes."""
        return b64decode(self.base64)

    @property
    def extension(self) -> str:
        """``.png``, ``.jpg`` or ``.webp``, from the image bytes."""
        return image_extension(self.to_bytes())

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the image to `path` (parent directories are created)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.to_bytes())
        return target

    @classmethod
    def from_json(cls, data: Any) -> Artifact:
        """Read one v1 artifact ``{"base64", "seed", "finishReason"}``."""
        if not isinstance(data, Mapping) or not isinstance(data.get("base64"), str):
            raise APIResponseError(f"artifact without base64 data: {_short(data)}")
        try:
            b64decode(data["base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise APIResponseError("artifact base64 data is not valid base64") from exc
        reason = data.get("finishReason", data.get("finish_reason", "SUCCESS"))
        return cls(base64=data["base64"], seed=_int(data.get("seed")), finish_reason=str(reason))


@dataclass(frozen=True)
class GenerationResult:
    """The artifacts of one generation request plus the ids to quote or cancel it.

    ``request_id`` is the ``X-Request-Id`` header; ``generation_id`` is easel's
    job id from ``X-Generation-Id`` (``None`` against Stability's hosted API).
    """

    artifacts: list[Artifact]
    request_id: str | None = None
    generation_id: str | None = None

    def save_all(self, directory: str | PathLike[str], prefix: str = "image") -> list[Path]:
        """Write every artifact as ``{prefix}-{index}-{seed}{ext}`` in `directory`.

        The directory is created if needed and existing files are overwritten.
        Returns the written paths in artifact order.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, artifact in enumerate(self.artifacts):
            data = artifact.to_bytes()
            path = folder / f"{prefix}-{index}-{artifact.seed}{image_extension(data)}"
            path.write_bytes(data)
            paths.append(path)
        return paths

    @classmethod
    def from_response(cls, response: httpx.Response) -> GenerationResult:
        """Read ``{"artifacts": [...]}`` (or a bare artifact array) and the id headers."""
        body = read_json(response)
        items = body.get("artifacts") if isinstance(body, Mapping) else body
        if not isinstance(items, list):
            raise APIResponseError(
                f"expected {{'artifacts': [...]}}, got {_short(body)}", response=response
            )
        return cls(
            artifacts=[Artifact.from_json(item) for item in items],
            request_id=response.headers.get("x-request-id"),
            generation_id=response.headers.get("x-generation-id"),
        )


@dataclass(frozen=True)
class Organization:
    """A membership of the account in an organization."""

    id: str
    name: str
    role: str
    is_default: bool

    @classmethod
    def from_json(cls, data: Any) -> Organization:
        """Read ``{id, name, role, is_default}``."""
        item = _mapping(data, "organization")
        return cls(
            id=_str(item, "id"),
            name=str(item.get("name", "")),
            role=str(item.get("role", "")),
            is_default=bool(item.get("is_default", False)),
        )


@dataclass(frozen=True)
class Account:
    """The user behind the API key (``GET /v1/user/account``)."""

    id: str
    email: str
    profile_picture: str | None
    organizations: list[Organization]

    @property
    def default_organization(self) -> Organization | None:
        """The organization billed when no ``Organization`` header is sent."""
        return next((org for org in self.organizations if org.is_default), None)

    @classmethod
    def from_json(cls, data: Any) -> Account:
        """Read ``{id, email, profile_picture?, organizations: [...]}``."""
        item = _mapping(data, "account")
        orgs = item.get("organizations") or []
        if not isinstance(orgs, list):
            raise APIResponseError(f"account organizations is not a list: {_short(orgs)}")
        picture = item.get("profile_picture")
        return cls(
            id=_str(item, "id"),
            email=str(item.get("email", "")),
            profile_picture=picture if isinstance(picture, str) and picture else None,
            organizations=[Organization.from_json(org) for org in orgs],
        )


@dataclass(frozen=True)
class Engine:
    """An engine from ``GET /v1/engines/list``; ``type`` is e.g. ``PICTURE``."""

    id: str
    name: str
    description: str
    type: str

    @classmethod
    def from_json(cls, data: Any) -> Engine:
        """Read ``{id, name, description, type}``."""
        item = _mapping(data, "engine")
        return cls(
            id=_str(item, "id"),
            name=str(item.get("name") or item["id"]),
            description=str(item.get("description", "")),
            type=str(item.get("type", "")),
        )


@dataclass(frozen=True)
class Balance:
    """Credits left in the organization (``GET /v1/user/balance``)."""

    credits: float

    @classmethod
    def from_json(cls, data: Any) -> Balance:
        """Read ``{"credits": <number>}``."""
        item = _mapping(data, "balance")
        credits = item.get("credits")
        if isinstance(credits, bool) or not isinstance(credits, int | float):
            raise APIResponseError(f"balance without numeric credits: {_short(data)}")
        return cls(credits=float(credits))


def read_json(response: httpx.Response) -> Any:
    """The JSON body of a successful response, or `APIResponseError`."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIResponseError(
            f"expected JSON from {response.request.url.path}, got "
            f"{response.headers.get('content-type', 'no content type')}",
            response=response,
        ) from exc


def _mapping(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise APIResponseError(f"expected a JSON object for the {what}, got {_short(data)}")
    return data


def _str(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise APIResponseError(f"missing string field {key!r} in {_short(item)}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            return int(float(value))
        except ValueError:
            return 0
    return 0


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
