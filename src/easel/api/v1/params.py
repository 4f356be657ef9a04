"""v1 generation parameters: parsing JSON and multipart bodies into typed models.

The models are named as in Stability's v1 spec. Multipart bodies arrive as
text parts (`text_prompts[0][text]`, `cfg_scale=7`, ...), which are folded
into the same shape as a JSON body and validated by the same model, so both
transports give the same errors. Unknown fields and parts are ignored, as
Stability's own samples send extra parts.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from easel.api import jsonbody
from easel.api.errors import describe_errors
from easel.errors import InvalidRequest

Sampler = Literal[
    "DDIM",
    "DDPM",
    "K_DPMPP_2M",
    "K_DPMPP_2S_ANCESTRAL",
    "K_DPM_2",
    "K_DPM_2_ANCESTRAL",
    "K_EULER",
    "K_EULER_ANCESTRAL",
    "K_HEUN",
    "K_LMS",
]
ClipGuidancePreset = Literal[
    "FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST"
]
StylePreset = Literal[
    "enhance",
    "anime",
    "photographic",
    "digital-art",
    "comic-book",
    "fantasy-art",
    "line-art",
    "analog-film",
    "neon-punk",
    "isometric",
    "low-poly",
    "origami",
    "modeling-compound",
    "cinematic",
    "3d-model",
    "pixel-art",
    "tile-texture",
]
MaskSource = Literal["MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA"]

MAX_SEED = 4_294_967_295
# Stability's spec says 10-150 with a default of 50; its later docs say a default of 30.
DEFAULT_STEPS = 30


class TextPrompt(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    text: str = Field(max_length=2000)
    weight: float = 1.0


class GenerationRequestOptionalParams(BaseModel):
    """Parameters every generation accepts. `clip_guidance_preset` and `extras` are
    accepted for compatibility; easel's engines do not use them."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    text_prompts: list[TextPrompt] = Field(min_length=1)
    cfg_scale: float = Field(default=7.0, ge=0, le=35)
    clip_guidance_preset: ClipGuidancePreset = "NONE"
    sampler: Sampler | None = None
    samples: int = Field(default=1, ge=1, le=10)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    steps: int = Field(default=DEFAULT_STEPS, ge=10, le=150)
    style_preset: StylePreset | None = None
    extras: dict[str, Any] | None = None


class TextToImageRequestBody(GenerationRequestOptionalParams):
    height: int = 512
    width: int = 512


class ImageToImageRequestBody(GenerationRequestOptionalParams):
    init_image_mode: Literal["IMAGE_STRENGTH", "STEP_SCHEDULE"] = "IMAGE_STRENGTH"
    image_strength: float = Field(default=0.35, ge=0, le=1)
    step_schedule_start: float = Field(default=0.65, ge=0, le=1)
    step_schedule_end: float | None = Field(default=None, ge=0, le=1)


class MaskingRequestBody(GenerationRequestOptionalParams):
    mask_source: MaskSource


class UpscaleRequestBody(BaseModel):
    """ESRGAN and latent upscaler bodies in one; prompts only matter to the latter."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    width: int | None = Field(default=None, ge=512)
    height: int | None = Field(default=None, ge=512)
    text_prompts: list[TextPrompt] | None = None
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    steps: int = Field(default=DEFAULT_STEPS, ge=10, le=150)
    cfg_scale: float = Field(default=7.0, ge=0, le=35)


Model = TypeVar("Model", bound=BaseModel)

_PROMPT_PART = re.compile(r"text_prompts\[(\d+)\]\[(text|weight)\]")


def validate_body(model: type[Model], data: Any) -> Model:
    """Validate `data` against `model`, turning pydantic errors into one 400."""
    if not isinstance(data, dict):
        raise InvalidRequest("body: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe_errors(exc.errors(include_url=False))) from exc


def parse_json(raw: bytes) -> Any:
    return jsonbody.parse_json(raw)


def fold_form(form: FormData) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    """Split multipart parts into scalar fields (prompts folded into a list) and files."""
    fields: dict[str, Any] = {}
    files: dict[str, UploadFile] = {}
    prompts: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[key] = value
            continue
        match = _PROMPT_PART.fullmatch(key)
        if match:
            # duplicate indices overwrite earlier ones, as Stability documents
            prompts.setdefault(int(match.group(1)), {})[match.group(2)] = value
        elif key == "extras":
            fields[key] = jsonbody.parse_json_text(value, "extras")
        else:
            fields[key] = value
    if prompts:
        fields["text_prompts"] = [prompts[i] for i in sorted(prompts)]
    return fields, files
