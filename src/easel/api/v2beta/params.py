"""v2beta request bodies: multipart text parts validated into typed models.

Every scalar arrives as a text part, so numbers are parsed from strings
(`"seed": "0"`, `"strength": "0.5"`). Unknown parts are ignored (official
samples send an empty `none` file to force multipart), and an empty text part
counts as absent. Each problem is its own entry in the error's `errors` list.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from easel.api.errors import field_errors
from easel.api.v1.params import StylePreset
from easel.errors import InvalidRequest
from easel.generation.media import Remesh, TextureResolution
from easel.generation.relight import LightDirection
from easel.generation.stable_image import MAX_PROMPT, MAX_SEED, AspectRatio

OutputFormat = Literal["png", "jpeg", "webp"]
# §3.3's enum, plus sd3.5-flash (accepted live) and the retired SD 3.0 ids old clients send.
SD3Model = Literal[
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3.5-flash",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
    "sd3",
    "sd3-turbo",
]


class V2betaBody(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class PromptedBody(V2betaBody):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT, description="What to generate.")
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT, description="What not to see in the output."
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="0 or absent: random.")
    output_format: OutputFormat = Field(default="png", description="The output's format.")


class GenerateCoreBody(PromptedBody):
    aspect_ratio: AspectRatio = Field(default="1:1", description="The output's aspect ratio.")
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")


class GenerateUltraBody(GenerateCoreBody):
    strength: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="With `image` (then required): 0 keeps the image, 1 ignores it.",
    )


class GenerateSD3Body(PromptedBody):
    mode: Literal["text-to-image", "image-to-image"] = Field(
        default="text-to-image", description="image-to-image needs `image` and `strength`."
    )
    model: SD3Model = Field(default="sd3.5-large", description="The SD3 model to use.")
    aspect_ratio: AspectRatio | None = Field(
        default=None, description="text-to-image only; default 1:1."
    )
    strength: float | None = Field(
        default=None, ge=0, le=1, description="image-to-image: how much of `image` to replace."
    )
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")
    cfg_scale: float | None = Field(
        default=None, ge=1, le=10, description="Prompt adherence; default from the model."
    )


class UpscaleFastBody(V2betaBody):
    output_format: OutputFormat = Field(default="png", description="The output's format.")


class UpscaleConservativeBody(PromptedBody):
    creativity: float = Field(
        default=0.35, ge=0.2, le=0.5, description="How much detail to invent."
    )


class UpscaleCreativeBody(PromptedBody):
    creativity: float = Field(default=0.3, ge=0.1, le=0.5, description="How much to reimagine.")
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")


# -- image-to-video and 3D (reference §3.19, §3.20) -----------------------------------------


class ImageToVideoBody(V2betaBody):
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="0 or absent: random.")
    cfg_scale: float = Field(
        default=1.8, ge=0, le=10, description="How strongly the video sticks to the image."
    )
    motion_bucket_id: int = Field(
        default=127, ge=1, le=255, description="Lower: less motion; higher: more motion."
    )


class StableFast3DBody(V2betaBody):
    texture_resolution: TextureResolution = Field(
        default="1024", description="The texture's side in pixels (a string)."
    )
    foreground_ratio: float = Field(
        default=0.85, ge=0.1, le=1, description="How much of the frame the subject fills."
    )
    remesh: Remesh = Field(default="none", description="The mesh's topology.")
    vertex_count: int = Field(
        default=-1, ge=-1, le=20_000, description="At most this many vertices; -1: no limit."
    )


class StablePointAware3DBody(V2betaBody):
    texture_resolution: TextureResolution = Field(
        default="1024", description="The texture's side in pixels (a string)."
    )
    foreground_ratio: float = Field(
        default=1.3, ge=1, le=2, description="How much of the frame the subject fills."
    )
    remesh: Remesh = Field(default="none", description="The mesh's topology.")
    target_type: Literal["none", "vertex", "face"] = Field(
        default="none", description="What `target_count` limits."
    )
    target_count: int = Field(
        default=1000, ge=100, le=20_000, description="The vertex or face count to aim at."
    )
    guidance_scale: float = Field(
        default=3, ge=1, le=10, description="How closely the point cloud follows the image."
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="0 or absent: random.")


# -- edit (reference §3.7-§3.12) ------------------------------------------------------------


class EditBody(V2betaBody):
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="0 or absent: random.")
    output_format: OutputFormat = Field(default="png", description="The output's format.")


class EraseBody(EditBody):
    # The spec lists `prompt` as required, but erase has no prompt (reference §6.10).
    grow_mask: int = Field(
        default=5, ge=0, le=20, description="Pixels to grow the mask by (edge blurred)."
    )


class InpaintBody(PromptedBody):
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")
    grow_mask: int = Field(
        default=5, ge=0, le=100, description="Pixels to grow the mask by (edge blurred)."
    )


class OutpaintBody(EditBody):
    prompt: str = Field(default="", max_length=MAX_PROMPT, description="What to paint.")
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT, description="What not to see in the output."
    )
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")
    left: int = Field(default=0, ge=0, le=2000, description="Pixels to add on the left.")
    right: int = Field(default=0, ge=0, le=2000, description="Pixels to add on the right.")
    up: int = Field(default=0, ge=0, le=2000, description="Pixels to add at the top.")
    down: int = Field(default=0, ge=0, le=2000, description="Pixels to add at the bottom.")
    creativity: float = Field(
        default=0.5, ge=0, le=1, description="How freely to paint the new area."
    )


class SearchBody(PromptedBody):
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")
    grow_mask: int = Field(
        default=3, ge=0, le=20, description="Pixels to grow the found mask by (edge blurred)."
    )


class SearchAndReplaceBody(SearchBody):
    search_prompt: str = Field(
        min_length=1, max_length=MAX_PROMPT, description="What to find and replace."
    )


class SearchAndRecolorBody(SearchBody):
    select_prompt: str = Field(
        min_length=1, max_length=MAX_PROMPT, description="What to find and recolour."
    )


class RemoveBackgroundBody(V2betaBody):
    output_format: Literal["png", "webp"] = Field(
        default="png", description="The output's format (png or webp: they keep the alpha)."
    )


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


# Stability's string booleans; Python clients that send `str(False)` ("False") are read too.
TextBool = Annotated[Literal["true", "false"], BeforeValidator(_lower)]


class ReplaceBackgroundAndRelightBody(EditBody):
    background_prompt: str | None = Field(
        default=None,
        max_length=MAX_PROMPT,
        description="What the new background shows (or the light, when relighting); this "
        "or `background_reference` is required.",
    )
    foreground_prompt: str | None = Field(
        default=None,
        max_length=MAX_PROMPT,
        description="What the subject is, so the background does not bleed into it.",
    )
    negative_prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT, description="What not to see in the output."
    )
    preserve_original_subject: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="How much of the original subject's pixels to keep: 1 exactly, 0 only "
        "the relit subject.",
    )
    original_background_depth: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="How closely a generated background keeps the original's layout.",
    )
    keep_original_background: TextBool = Field(
        default="false", description='"true": keep the original background and only relight.'
    )
    light_source_direction: LightDirection | None = Field(
        default=None, description="Where the light comes from."
    )
    light_source_strength: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="How strong the light is (1 brighter); needs `light_source_direction` or "
        "`light_reference`.",
    )


# -- control (reference §3.14-§3.17) ----------------------------------------------------------


class ControlBody(PromptedBody):
    """What `control/sketch` and `control/structure` share."""

    control_strength: float = Field(
        default=0.7, ge=0, le=1, description="How strongly `image` steers the output."
    )
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")


# One class per route: the OpenAPI document names each route's body schema after it.
class ControlSketchBody(ControlBody):
    pass


class ControlStructureBody(ControlBody):
    pass


class ControlStyleBody(PromptedBody):
    aspect_ratio: AspectRatio = Field(default="1:1", description="The output's aspect ratio.")
    fidelity: float = Field(
        default=0.5, ge=0, le=1, description="How closely the output's style follows `image`."
    )
    style_preset: StylePreset | None = Field(default=None, description="A style to steer to.")


class StyleTransferBody(PromptedBody):
    prompt: str = Field(default="", max_length=MAX_PROMPT, description="What to generate.")
    style_strength: float = Field(
        default=1.0, ge=0, le=1, description="How much of `style_image`'s style to apply."
    )
    composition_fidelity: float = Field(
        default=0.9, ge=0, le=1, description="How closely the output keeps `init_image`'s layout."
    )
    change_strength: float = Field(
        default=0.9, ge=0.1, le=1, description="How much `init_image` may change."
    )


Body = TypeVar("Body", bound=V2betaBody)


def validate_form(model: type[Body], fields: list[tuple[str, str]]) -> Body:
    """The body from multipart text parts (the last of a repeated name wins)."""
    data = {name: value for name, value in fields if value != ""}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = field_errors(exc.errors(include_url=False))
        raise InvalidRequest("; ".join(problems), errors=problems) from exc
