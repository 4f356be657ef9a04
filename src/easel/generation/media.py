"""Operations whose outputs are not images: image-to-video and image-to-3D (v2beta).

`ImageToVideo` (`/v2beta/image-to-video`, reference §3.19) takes an image of
exactly 1024x576, 576x1024 or 768x768 and makes a video of that size (MP4,
encoded by `outputs.encode_mp4`). `StableFast3D` and `StablePointAware3D`
(`/v2beta/3d/*`, §3.20) take an image and make a textured mesh (GLB). Their
fields are Stability's; how an engine honours them is the engine's to say
(`engines.backends.depth_mesh` for the default 3D engines).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import Field

from easel.engines.base import EngineSpec, GenerationRequest
from easel.errors import InvalidRequest
from easel.generation.requests import OperationRequest
from easel.generation.stable_image import MAX_SEED

VIDEO_SIZES = ((1024, 576), (576, 1024), (768, 768))
DEFAULT_VIDEO_STEPS = 25  # SVD-XT's own default
Remesh = Literal["none", "triangle", "quad"]
TextureResolution = Literal["512", "1024", "2048"]
MIN_3D_PIXELS, MAX_3D_PIXELS = 4_096, 4_194_304


class MediaRequest(OperationRequest):
    """One input image, one output; seeds as in v2beta."""

    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    samples: int = Field(default=1, ge=1, le=1)
    image: Image.Image

    def png_parameters(self, engine_id: str) -> dict[str, Any]:
        return {"engine_id": engine_id, "kind": self.operation}


class ImageToVideo(MediaRequest):
    operation = "image-to-video"
    engine_kind = "image-to-video"

    cfg_scale: float = Field(default=1.8, ge=0, le=10)
    motion_bucket_id: int = Field(default=127, ge=1, le=255)
    steps: int | None = Field(default=None, ge=1, le=150)

    def for_engine(self, spec: EngineSpec) -> OperationRequest:
        return self.model_copy(update={"steps": self.steps or spec.steps or DEFAULT_VIDEO_STEPS})

    def check(self, spec: EngineSpec) -> None:
        if self.image.size not in VIDEO_SIZES:
            sizes = ", ".join(f"{w}x{h}" for w, h in VIDEO_SIZES)
            width, height = self.image.size
            raise InvalidRequest(
                f"image: must be {sizes}, got {width}x{height}", name="invalid_image_dimensions"
            )

    def to_engine(self) -> GenerationRequest:
        width, height = self.image.size
        return GenerationRequest(
            kind="image-to-video",
            prompts=[],
            width=width,
            height=height,
            seeds=list(self.seeds),
            steps=self.steps or DEFAULT_VIDEO_STEPS,
            cfg_scale=self.cfg_scale,
            init_image=self.image.convert("RGB"),
            extras={"motion_bucket_id": self.motion_bucket_id},
        )


class ImageTo3D(MediaRequest):
    """What both 3D services share; the image keeps its alpha (it marks the subject)."""

    engine_kind = "image-to-3d"
    FOREGROUND_RANGE: ClassVar[tuple[float, float]]

    texture_resolution: TextureResolution = "1024"
    remesh: Remesh = "none"
    foreground_ratio: float

    def check(self, spec: EngineSpec) -> None:
        width, height = self.image.size
        if min(width, height) < 64 or not MIN_3D_PIXELS <= width * height <= MAX_3D_PIXELS:
            raise InvalidRequest(
                f"image: every side must be at least 64 pixels and the image must have "
                f"{MIN_3D_PIXELS}-{MAX_3D_PIXELS} pixels, got {width}x{height}",
                name="invalid_image_dimensions",
            )

    def _limits(self) -> dict[str, Any]:
        """`vertex_limit` / `face_limit` for the engine (None: no limit)."""
        return {}

    def to_engine(self) -> GenerationRequest:
        width, height = self.image.size
        image = self.image if self.image.mode in ("RGB", "RGBA") else self.image.convert("RGBA")
        return GenerationRequest(
            kind="image-to-3d",
            prompts=[],
            width=width,
            height=height,
            seeds=list(self.seeds),
            steps=1,
            init_image=image,
            extras={
                "texture_resolution": int(self.texture_resolution),
                "foreground_ratio": self.foreground_ratio,
                "remesh": self.remesh,
                **self._limits(),
            },
        )


class StableFast3D(ImageTo3D):
    operation = "3d.stable-fast-3d"

    foreground_ratio: float = Field(default=0.85, ge=0.1, le=1)
    vertex_count: int = Field(default=-1, ge=-1, le=20_000)

    def _limits(self) -> dict[str, Any]:
        return {"vertex_limit": None if self.vertex_count == -1 else self.vertex_count}


class StablePointAware3D(ImageTo3D):
    operation = "3d.stable-point-aware-3d"

    foreground_ratio: float = Field(default=1.3, ge=1, le=2)
    target_type: Literal["none", "vertex", "face"] = "none"
    target_count: int = Field(default=1000, ge=100, le=20_000)
    guidance_scale: float = Field(default=3, ge=1, le=10)

    def _limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {"guidance_scale": self.guidance_scale}
        if self.target_type != "none":
            limits[f"{self.target_type}_limit"] = self.target_count
        return limits
