"""v1 generation parameters: parsing JSON and multipart bodies into typed models.

The models are named as in Stability's v1 spec. Multipart bodies arrive as
text parts (`text_prompts[0][text]`, `cfg_scale=7`, ...), which are folded
into the same shape as a JSON body and validated by the same model, so both
transports give the same errors. Unknown fields and parts are ignored, as
Stability's own samples send extra parts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from easel.api import jsonbody
from easel.generation.images import MaskSource

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

MAX_SEED = 4_294_967_295
# Stability's spec says 10-150 with a default of 50; its later docs say a default of 30.
DEFAULT_STEPS = 30

# Field descriptions shared by several bodies; they show in the OpenAPI document.
_CFG_SCALE = "How strictly the diffusion follows the prompt (higher: closer to the prompt)"
_SEED = "Random noise seed; 0 or omitted picks a random one"
_STEPS = "Number of diffusion steps to run"
_DIFFUSE_SIZE = (
    "{} of the image in pixels: a multiple of 64 within the engine's pixel-count limits "
    "(SDXL v1 engines take only their listed sizes)"
)


class TextPrompt(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    text: str = Field(max_length=2000, description="The prompt itself")
    weight: float = Field(
        default=1.0, description="Weight of the prompt; negative for a negative prompt"
    )


class GenerationRequestOptionalParams(BaseModel):
    """Parameters every generation accepts. `clip_guidance_preset` and `extras` are
    accepted for compatibility; easel's engines do not use them."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    text_prompts: list[TextPrompt] = Field(
        min_length=1, description="Prompts; at least one needs a positive weight"
    )
    cfg_scale: float = Field(default=7.0, ge=0, le=35, description=_CFG_SCALE)
    clip_guidance_preset: ClipGuidancePreset = Field(
        default="NONE", description="Accepted for compatibility; not used"
    )
    sampler: Sampler | None = Field(
        default=None, description="The sampler; omitted, the engine picks one"
    )
    samples: int = Field(default=1, ge=1, le=10, description="Number of images to generate")
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description=_SEED)
    steps: int = Field(default=DEFAULT_STEPS, ge=10, le=150, description=_STEPS)
    style_preset: StylePreset | None = Field(
        default=None, description="A style preset to guide the image towards"
    )
    extras: dict[str, Any] | None = Field(
        default=None, description="Extra parameters for the engine; accepted, not used"
    )


class TextToImageRequestBody(GenerationRequestOptionalParams):
    height: int = Field(default=512, description=_DIFFUSE_SIZE.format("Height"))
    width: int = Field(default=512, description=_DIFFUSE_SIZE.format("Width"))


class ImageToImageRequestBody(GenerationRequestOptionalParams):
    init_image_mode: Literal["IMAGE_STRENGTH", "STEP_SCHEDULE"] = Field(
        default="IMAGE_STRENGTH",
        description="Whether image_strength or step_schedule_* sets the init_image's influence",
    )
    image_strength: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="How much the init_image shapes the result: near 1 keeps it, near 0 "
        "departs from it",
    )
    step_schedule_start: float = Field(
        default=0.65,
        ge=0,
        le=1,
        description="Share of the first diffusion steps skipped; lower keeps more of init_image",
    )
    step_schedule_end: float | None = Field(
        default=None, ge=0, le=1, description="Share of the last diffusion steps skipped"
    )


class MaskingRequestBody(GenerationRequestOptionalParams):
    mask_source: MaskSource = Field(
        description="Where the mask comes from: the white or the black pixels of mask_image "
        "are repainted, or the transparent pixels of init_image"
    )


class UpscaleRequestBody(BaseModel):
    """ESRGAN and latent upscaler bodies in one; prompts only matter to the latter."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    width: int | None = Field(
        default=None, ge=512, description="Output width, aspect kept (default 2x); not with height"
    )
    height: int | None = Field(
        default=None, ge=512, description="Output height, aspect kept (default 2x); not with width"
    )
    text_prompts: list[TextPrompt] | None = Field(
        default=None, description="Prompts for the latent upscaler"
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description=_SEED)
    steps: int = Field(default=DEFAULT_STEPS, ge=10, le=150, description=_STEPS)
    cfg_scale: float = Field(default=7.0, ge=0, le=35, description=_CFG_SCALE)


Model = TypeVar("Model", bound=BaseModel)

_PROMPT_PART = re.compile(r"text_prompts\[(\d+)\]\[(text|weight)\]")


def validate_body(model: type[Model], data: Any) -> Model:
    """Validate `data` against `model`, turning pydantic errors into one 400."""
    return jsonbody.validate_object(model, data)


def parse_json(raw: bytes) -> Any:
    return jsonbody.parse_json(raw)


def fold_form(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Fold text parts into the shape of a JSON body (prompts folded into a list)."""
    fields: dict[str, Any] = {}
    prompts: dict[int, dict[str, str]] = {}
    for key, value in items:
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
    return fields
