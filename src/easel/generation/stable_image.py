"""The stable-image operations (v2beta `generate/*` and `upscale/*`), protocol-neutral.

What the API leaves open is settled against the engine (`for_engine`): the
output size from the aspect ratio or the input image, per engine family (see
`engines.dimensions`: the 1 MP aspect table on sd3; SDXL's own list on
sdxl, so Core renders 1024×1024 for 1:1 where Stability's Core returned
1536×1536), and steps and guidance from the engine's spec. Upscale sizes:
fast is 4× the input; conservative and creative follow Stability's observed
outputs (512² → 3112² and 3152²), keeping the input's aspect.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import Field

from easel.engines.base import EngineSpec, GenerationRequest, WeightedPrompt
from easel.engines.dimensions import (
    CONSERVATIVE_UPSCALE_PIXELS,
    CREATIVE_UPSCALE_PIXELS,
    FAST_UPSCALE_FACTOR,
    aspect_ratio_size,
    fit_size,
    scale_to_pixels,
)
from easel.errors import InvalidRequest
from easel.generation.requests import OperationRequest

AspectRatio = Literal["21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21"]

MAX_SEED = 4_294_967_294  # v2beta's range; v1 allows one more
MAX_PROMPT = 10_000
DEFAULT_STEPS = 30
# Input image limits shared by most v2beta endpoints (reference §3).
MIN_SIDE = 64
MIN_PIXELS = 4_096
MAX_ASPECT = 2.5


def _prompts(prompt: str, negative_prompt: str | None) -> list[WeightedPrompt]:
    prompts = [WeightedPrompt(prompt, 1.0)]
    if negative_prompt:
        prompts.append(WeightedPrompt(negative_prompt, -1.0))
    return prompts


def check_image(
    image: Image.Image,
    field: str,
    *,
    max_side: int | None = None,
    max_pixels: int | None = None,
    aspect: bool = False,
) -> None:
    """Stability's input image limits: every side at least 64 pixels, at least 4096 pixels,
    and optionally a largest side, a largest area and an aspect ratio from 1:2.5 to 2.5:1."""
    width, height = image.size
    problems = []
    if min(width, height) < MIN_SIDE or (max_side is not None and max(width, height) > max_side):
        sides = f"{MIN_SIDE}-{max_side}" if max_side is not None else f"at least {MIN_SIDE}"
        problems.append(f"every side must be {sides} pixels")
    if width * height < MIN_PIXELS or (max_pixels is not None and width * height > max_pixels):
        area = f"{MIN_PIXELS}-{max_pixels}" if max_pixels is not None else f"at least {MIN_PIXELS}"
        problems.append(f"the image must have {area} pixels")
    if aspect and not 1 / MAX_ASPECT <= width / height <= MAX_ASPECT:
        problems.append("the aspect ratio must be between 1:2.5 and 2.5:1")
    if problems:
        raise InvalidRequest(
            f"{field}: {' and '.join(problems)}, got {width}x{height}",
            name="invalid_image_dimensions",
        )


class StableImageRequest(OperationRequest):
    """What every stable-image operation shares: a prompt, a negative one, a style.

    `steps` and `cfg_scale` left unset take the engine's defaults (`for_engine`).
    """

    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    samples: int = Field(default=1, ge=1, le=1)
    prompt: str = Field(default="", max_length=MAX_PROMPT)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT)
    style_preset: str | None = None
    steps: int | None = Field(default=None, ge=1, le=150)
    cfg_scale: float | None = Field(default=None, ge=0, le=35)

    def for_engine(self, spec: EngineSpec) -> OperationRequest:
        return self.model_copy(
            update={
                "steps": self.steps or spec.steps or DEFAULT_STEPS,
                "cfg_scale": self.cfg_scale if self.cfg_scale is not None else spec.cfg_scale,
                **self._settled_for(spec),
            }
        )

    def _settled_for(self, spec: EngineSpec) -> dict[str, Any]:
        """What else this operation settles against the engine (an output size)."""
        return {}

    def prompt_texts(self) -> list[tuple[str, str]]:
        texts = [("prompt", self.prompt), ("negative_prompt", self.negative_prompt)]
        return [(field, text) for field, text in texts if text]

    def png_parameters(self, engine_id: str) -> dict[str, Any]:
        work = self.to_engine()
        return {
            "engine_id": engine_id,
            "kind": self.operation,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": work.width,
            "height": work.height,
            "steps": work.steps,
            "cfg_scale": work.cfg_scale,
            "style_preset": work.style_preset,
        }

    def _engine(self, **fields: Any) -> GenerationRequest:
        optional: dict[str, Any] = {}
        if self.cfg_scale is not None:
            optional["cfg_scale"] = self.cfg_scale
        return GenerationRequest(
            prompts=_prompts(self.prompt, self.negative_prompt),
            seeds=list(self.seeds),
            steps=self.steps or DEFAULT_STEPS,
            style_preset=self.style_preset,
            **optional,
            **fields,
        )

    def _size(self) -> tuple[int, int]:
        width, height = getattr(self, "width", None), getattr(self, "height", None)
        if width is None or height is None:
            raise ValueError(f"{self.operation}: the output size is settled by for_engine")
        return width, height


class Generate(StableImageRequest):
    """`generate/ultra|core|sd3` from text: the size comes from the aspect ratio."""

    operation = "stable-image.generate"
    engine_kind = "text-to-image"

    aspect_ratio: AspectRatio = "1:1"
    width: int | None = None
    height: int | None = None

    def _settled_for(self, spec: EngineSpec) -> dict[str, Any]:
        width, height = aspect_ratio_size(spec.family, self.aspect_ratio)
        return {"width": width, "height": height}

    def to_engine(self) -> GenerationRequest:
        width, height = self._size()
        return self._engine(kind="text-to-image", width=width, height=height)


class GenerateFromImage(StableImageRequest):
    """`generate/ultra|sd3` with an input image: `strength` of it is re-imagined."""

    operation = "stable-image.generate-from-image"
    engine_kind = "image-to-image"

    image: Image.Image
    # 0 keeps the input, 1 ignores it (the diffusers strength)
    strength: float = Field(ge=0, le=1)
    width: int | None = None
    height: int | None = None

    def _settled_for(self, spec: EngineSpec) -> dict[str, Any]:
        width, height = fit_size(spec.family, *self.image.size)
        return {"width": width, "height": height}

    def check(self, spec: EngineSpec) -> None:
        check_image(self.image, "image", max_side=16_384)

    def to_engine(self) -> GenerationRequest:
        width, height = self._size()
        return self._engine(
            kind="image-to-image",
            width=width,
            height=height,
            init_image=self.image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS),
            image_strength=1 - self.strength,
        )


class UpscaleFast(StableImageRequest):
    """`upscale/fast`: 4× with a super-resolution network, no prompt."""

    operation = "stable-image.upscale-fast"
    engine_kind = "upscale"

    image: Image.Image

    def check(self, spec: EngineSpec) -> None:
        width, height = self.image.size
        if not (32 <= width <= 1536 and 32 <= height <= 1536):
            raise InvalidRequest(
                f"image: width and height must each be 32-1536 pixels, got {width}x{height}",
                name="invalid_image_dimensions",
            )
        if not 1024 <= width * height <= 1_048_576:
            raise InvalidRequest(
                f"image: must have 1024-1048576 pixels, got {width * height}",
                name="invalid_image_dimensions",
            )

    def to_engine(self) -> GenerationRequest:
        width, height = (side * FAST_UPSCALE_FACTOR for side in self.image.size)
        return self._engine(
            kind="upscale", width=width, height=height, init_image=self.image.convert("RGB")
        )


class DiffusionUpscale(StableImageRequest):
    """`upscale/conservative` and `upscale/creative`: resize, then a tiled img2img pass."""

    engine_kind = "upscale"
    OUTPUT_PIXELS: ClassVar[int]
    MAX_PIXELS: ClassVar[int]

    image: Image.Image
    creativity: float = 0.35

    def check(self, spec: EngineSpec) -> None:
        check_image(self.image, "image", max_pixels=self.MAX_PIXELS, aspect=True)

    def to_engine(self) -> GenerationRequest:
        width, height = scale_to_pixels(*self.image.size, self.OUTPUT_PIXELS)
        return self._engine(
            kind="upscale",
            width=width,
            height=height,
            init_image=self.image.convert("RGB"),
            extras={"creativity": self.creativity},
        )


class UpscaleConservative(DiffusionUpscale):
    operation = "stable-image.upscale-conservative"
    OUTPUT_PIXELS = CONSERVATIVE_UPSCALE_PIXELS
    MAX_PIXELS = 9_437_184

    creativity: float = Field(default=0.35, ge=0.2, le=0.5)


class UpscaleCreative(DiffusionUpscale):
    operation = "stable-image.upscale-creative"
    OUTPUT_PIXELS = CREATIVE_UPSCALE_PIXELS
    MAX_PIXELS = 1_048_576

    creativity: float = Field(default=0.3, ge=0.1, le=0.5)
