"""Build the HTTP request for each v1 endpoint, with no I/O beyond reading
input images. Shared by `Client` and `AsyncClient`.

Only fields the caller set are sent: the server applies its own defaults.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeAlias
from urllib.parse import quote

from ._types import TextPrompt, image_extension

#: An input image: a file path, raw bytes, or a binary file object.
ImageInput: TypeAlias = str | os.PathLike[str] | bytes | IO[bytes]
#: Prompts as `TextPrompt`s or ``{"text": ..., "weight": ...}`` mappings.
PromptsInput: TypeAlias = Sequence[TextPrompt | Mapping[str, Any]]

MASK_SOURCES = ("MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA")

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


@dataclass(frozen=True)
class RequestSpec:
    """What to send; `generation` requests carry an ``Idempotency-Key``."""

    method: str
    path: str
    json: Any = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str | None, bytes, str | None]] | None = None
    generation: bool = False
    #: The ``Accept`` header when it is not the client's default (JSON).
    accept: str | None = None


def get(path: str) -> RequestSpec:
    """A plain GET."""
    return RequestSpec("GET", path)


def build_prompts(
    prompt: str | None,
    text_prompts: PromptsInput | None,
    negative_prompt: str | None,
    *,
    required: bool = True,
) -> list[TextPrompt]:
    """One list from `prompt` xor `text_prompts`, plus `negative_prompt` at weight -1."""
    if prompt is not None and text_prompts is not None:
        raise ValueError("pass either prompt or text_prompts, not both")
    prompts: list[TextPrompt] = []
    if prompt is not None:
        prompts.append(TextPrompt(prompt, 1.0))
    for item in text_prompts or ():
        if isinstance(item, TextPrompt):
            prompts.append(item)
        else:
            prompts.append(TextPrompt(str(item["text"]), float(item.get("weight", 1.0))))
    if negative_prompt:
        prompts.append(TextPrompt(negative_prompt, -1.0))
    if required and not any(p.weight >= 0 for p in prompts):
        raise ValueError("a prompt is required: pass prompt or text_prompts")
    return prompts


def text_to_image(
    engine_id: str, prompts: list[TextPrompt], fields: Mapping[str, Any]
) -> RequestSpec:
    """JSON body for ``POST /v1/generation/{engine_id}/text-to-image``."""
    body: dict[str, Any] = {"text_prompts": [{"text": p.text, "weight": p.weight} for p in prompts]}
    body.update(_present(fields))
    return RequestSpec(
        "POST", _generation_path(engine_id, "text-to-image"), json=body, generation=True
    )


def image_to_image(
    engine_id: str,
    init_image: ImageInput,
    prompts: list[TextPrompt],
    fields: Mapping[str, Any],
) -> RequestSpec:
    """Multipart body for ``POST /v1/generation/{engine_id}/image-to-image``."""
    values = dict(_present(fields))
    has_schedule = "step_schedule_start" in values or "step_schedule_end" in values
    if has_schedule and "image_strength" in values:
        raise ValueError("pass image_strength or step_schedule_start/end, not both")
    if has_schedule:
        values = {"init_image_mode": "STEP_SCHEDULE", **values}
    elif "image_strength" in values:
        values = {"init_image_mode": "IMAGE_STRENGTH", **values}
    return RequestSpec(
        "POST",
        _generation_path(engine_id, "image-to-image"),
        data=_form(prompts, values),
        files={"init_image": read_image(init_image, "init_image")},
        generation=True,
    )


def masking(
    engine_id: str,
    init_image: ImageInput,
    mask_image: ImageInput | None,
    mask_source: str,
    prompts: list[TextPrompt],
    fields: Mapping[str, Any],
) -> RequestSpec:
    """Multipart body for ``POST /v1/generation/{engine_id}/image-to-image/masking``."""
    if mask_source not in MASK_SOURCES:
        raise ValueError(
            f"mask_source must be one of {', '.join(MASK_SOURCES)}; got {mask_source!r}"
        )
    if mask_source == "INIT_IMAGE_ALPHA" and mask_image is not None:
        raise ValueError("mask_image is not used with mask_source INIT_IMAGE_ALPHA")
    if mask_source != "INIT_IMAGE_ALPHA" and mask_image is None:
        raise ValueError(f"mask_source {mask_source} needs a mask_image")
    files: dict[str, tuple[str | None, bytes, str | None]] = {
        "init_image": read_image(init_image, "init_image")
    }
    if mask_image is not None:
        files["mask_image"] = read_image(mask_image, "mask_image")
    values = {"mask_source": mask_source, **_present(fields)}
    return RequestSpec(
        "POST",
        _generation_path(engine_id, "image-to-image/masking"),
        data=_form(prompts, values),
        files=files,
        generation=True,
    )


def upscale(
    engine_id: str,
    image: ImageInput,
    prompts: list[TextPrompt],
    fields: Mapping[str, Any],
) -> RequestSpec:
    """Multipart body for ``POST /v1/generation/{engine_id}/image-to-image/upscale``."""
    values = _present(fields)
    if "width" in values and "height" in values:
        raise ValueError("pass width or height for an upscale, not both")
    return RequestSpec(
        "POST",
        _generation_path(engine_id, "image-to-image/upscale"),
        data=_form(prompts, values),
        files={"image": read_image(image, "image")},
        generation=True,
    )


def cancel(generation_id: str) -> RequestSpec:
    """``DELETE /v1/generation/{generation_id}``."""
    return RequestSpec("DELETE", f"/v1/generation/{quote(generation_id, safe='')}")


def multipart(
    path: str,
    fields: Mapping[str, Any],
    images: Mapping[str, ImageInput | None],
    *,
    accept: str,
) -> RequestSpec:
    """A v2beta multipart request: the set `fields` as text parts, the given
    `images` as file parts. Always multipart, even with no image (the API
    takes nothing else), so text parts go in as file-less parts then."""
    values = {key: _text(value) for key, value in _present(fields).items()}
    files: dict[str, tuple[str | None, bytes, str | None]] = {
        field: read_image(image, field) for field, image in images.items() if image is not None
    }
    if not files:
        files = {key: (None, value.encode(), None) for key, value in values.items()}
        values = {}
    return RequestSpec("POST", path, data=values, files=files, generation=True, accept=accept)


def read_image(image: ImageInput, field: str) -> tuple[str, bytes, str]:
    """``(filename, bytes, content type)`` for a multipart file part.

    The bytes are read once so every retry sends the same body.
    """
    name: str | None = None
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, str | os.PathLike):
        path = Path(image)
        data = path.read_bytes()
        name = path.name
    else:
        data = image.read()
        raw_name = getattr(image, "name", None)
        name = Path(raw_name).name if isinstance(raw_name, str) else None
    if not data:
        raise ValueError(f"{field} is empty")
    sniffed = _sniff(data)
    if name is None:
        name = f"{field}{sniffed or '.png'}"
    if sniffed is not None:
        return name, data, _MIME[sniffed]
    return name, data, mimetypes.guess_type(name)[0] or "application/octet-stream"


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    extension = image_extension(data)
    return extension if extension != ".png" else None


def _generation_path(engine_id: str, action: str) -> str:
    if not engine_id:
        raise ValueError("engine_id is required")
    return f"/v1/generation/{quote(engine_id, safe='')}/{action}"


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _form(prompts: list[TextPrompt], values: Mapping[str, Any]) -> dict[str, str]:
    form: dict[str, str] = {}
    for index, prompt in enumerate(prompts):
        form[f"text_prompts[{index}][text]"] = prompt.text
        form[f"text_prompts[{index}][weight]"] = _text(prompt.weight)
    for key, value in values.items():
        form[key] = json.dumps(value) if isinstance(value, Mapping) else _text(value)
    return form


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
