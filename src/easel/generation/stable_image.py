"""The stable-image operations (v2beta `generate/*` and `upscale/*`), protocol-neutral.

Sizes. Stability publishes no aspect-ratio table; the 1 MP one below is the
community convention, of which [LIVE] (reference §2) confirms 1:1 → 1024×1024
and 16:9 → 1344×768. Core was observed at 1536×1536 for 1:1, so its table is
the 1 MP one scaled by 1.5 and rounded to multiples of 64. Image-to-image
keeps the input's aspect at about 1 MP, in multiples of 64. Upscale sizes:
fast is 4× the input (at most 16 MP); conservative and creative follow
Stability's observed outputs (512² → ~3100²), as about 9.4 MP and 4× at
most, keeping the input's aspect.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import Field

from easel.engines.base import EngineSpec, GenerationRequest, WeightedPrompt
from easel.errors import InvalidRequest
from easel.generation.requests import OperationRequest

AspectRatio = Literal["21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21"]

MAX_SEED = 4_294_967_294  # v2beta's range; v1 allows one more
MAX_PROMPT = 10_000

ONE_MEGAPIXEL: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "5:4": (1088, 896),
    "4:5": (896, 1088),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}


def _round64(value: float) -> int:
    return max(64, int(round(value / 64)) * 64)


CORE_SIZES: dict[str, tuple[int, int]] = {
    ratio: (_round64(w * 1.5), _round64(h * 1.5)) for ratio, (w, h) in ONE_MEGAPIXEL.items()
}


def size_for_aspect(aspect_ratio: str, *, scale: Literal["1mp", "core"] = "1mp") -> tuple[int, int]:
    return (CORE_SIZES if scale == "core" else ONE_MEGAPIXEL)[aspect_ratio]


def fit_pixels(width: int, height: int, pixels: int, *, multiple: int = 64) -> tuple[int, int]:
    """`width`×`height` scaled to about `pixels`, each side a multiple of `multiple`."""
    factor = math.sqrt(pixels / (width * height))
    return (
        max(multiple, int(round(width * factor / multiple)) * multiple),
        max(multiple, int(round(height * factor / multiple)) * multiple),
    )


def _prompts(prompt: str, negative_prompt: str | None) -> list[WeightedPrompt]:
    prompts = [WeightedPrompt(prompt, 1.0)]
    if negative_prompt:
        prompts.append(WeightedPrompt(negative_prompt, -1.0))
    return prompts


class StableImageRequest(OperationRequest):
    """What every stable-image operation shares: a prompt, a negative one, a style."""

    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    samples: int = Field(default=1, ge=1, le=1)
    prompt: str = Field(default="", max_length=MAX_PROMPT)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT)
    style_preset: str | None = None
    steps: int = Field(default=30, ge=1, le=150)
    cfg_scale: float = Field(default=7.0, ge=0, le=35)

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
        return GenerationRequest(
            prompts=_prompts(self.prompt, self.negative_prompt),
            seeds=list(self.seeds),
            steps=self.steps,
            cfg_scale=self.cfg_scale,
            style_preset=self.style_preset,
            **fields,
        )


class Generate(StableImageRequest):
    """`generate/ultra|core|sd3` from text: the size comes from the aspect ratio."""

    operation = "stable-image.generate"
    engine_kind = "text-to-image"

    aspect_ratio: AspectRatio = "1:1"
    # the core service renders larger than the 1 MP models
    size_scale: Literal["1mp", "core"] = "1mp"

    def size(self) -> tuple[int, int]:
        return size_for_aspect(self.aspect_ratio, scale=self.size_scale)

    def to_engine(self) -> GenerationRequest:
        width, height = self.size()
        return self._engine(kind="text-to-image", width=width, height=height)


class GenerateFromImage(StableImageRequest):
    """`generate/ultra|sd3` with an input image: `strength` of it is re-imagined."""

    operation = "stable-image.generate-from-image"
    engine_kind = "image-to-image"

    image: Image.Image
    # 0 keeps the input, 1 ignores it (the diffusers strength)
    strength: float = Field(ge=0, le=1)

    def check(self, spec: EngineSpec) -> None:
        width, height = self.image.size
        if min(width, height) < 64 or max(width, height) > 16_384 or width * height < 4_096:
            raise InvalidRequest(
                f"image: each side must be 64-16384 pixels and the image at least 4096 "
                f"pixels, got {width}x{height}",
                name="invalid_image_dimensions",
            )

    def to_engine(self) -> GenerationRequest:
        width, height = fit_pixels(self.image.width, self.image.height, 1024 * 1024)
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
    MAX_OUTPUT: ClassVar[int] = 16 * 1024 * 1024

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
        width, height = self.image.width * 4, self.image.height * 4
        return self._engine(
            kind="upscale", width=width, height=height, init_image=self.image.convert("RGB")
        )


class DiffusionUpscale(StableImageRequest):
    """`upscale/conservative` and `upscale/creative`: resize, then a tiled img2img pass."""

    engine_kind = "upscale"
    OUTPUT_PIXELS: ClassVar[int] = 9_437_184
    MIN_PIXELS: ClassVar[int] = 4_096
    MAX_PIXELS: ClassVar[int]

    image: Image.Image
    creativity: float = 0.35

    def check(self, spec: EngineSpec) -> None:
        width, height = self.image.size
        if min(width, height) < 64 or not self.MIN_PIXELS <= width * height <= self.MAX_PIXELS:
            raise InvalidRequest(
                f"image: every side must be at least 64 pixels and the image must have "
                f"{self.MIN_PIXELS}-{self.MAX_PIXELS} pixels, got {width}x{height}",
                name="invalid_image_dimensions",
            )
        if not 1 / 2.5 <= width / height <= 2.5:
            raise InvalidRequest(
                f"image: the aspect ratio must be between 1:2.5 and 2.5:1, got {width}x{height}",
                name="invalid_image_dimensions",
            )

    def output_size(self) -> tuple[int, int]:
        width, height = self.image.size
        pixels = min(self.OUTPUT_PIXELS, width * height * 16)
        return fit_pixels(width, height, pixels, multiple=8)

    def to_engine(self) -> GenerationRequest:
        width, height = self.output_size()
        return self._engine(
            kind="upscale",
            width=width,
            height=height,
            init_image=self.image.convert("RGB"),
            extras={"creativity": self.creativity},
        )


class UpscaleConservative(DiffusionUpscale):
    operation = "stable-image.upscale-conservative"
    MAX_PIXELS = 9_437_184

    creativity: float = Field(default=0.35, ge=0.2, le=0.5)


class UpscaleCreative(DiffusionUpscale):
    operation = "stable-image.upscale-creative"
    MAX_PIXELS = 1_048_576

    creativity: float = Field(default=0.3, ge=0.1, le=0.5)
