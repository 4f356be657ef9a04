"""The control operations (v2beta `control/*`), protocol-neutral.

Output sizes follow Stability (reference §2, §3.14-§3.17): sketch and
structure answer at the input's exact size (the engine diffuses at its own
working size and resizes); style renders the family's size for
`aspect_ratio` (about 1 MP; on SDXL the nearest of its own sizes, so 16:9 is
1344x768 where Stability was seen answering 1365x768); style transfer renders
about 1 MP at `init_image`'s aspect ratio (the family's size nearest to it).
"""

from __future__ import annotations

from typing import Any

from PIL import Image
from pydantic import Field

from easel.engines.base import EngineSpec, GenerationRequest
from easel.engines.dimensions import aspect_ratio_size, fit_size
from easel.generation.stable_image import AspectRatio, StableImageRequest, check_image

# Largest input of the control endpoints, in pixels (reference §3.14-§3.17).
MAX_INPUT_PIXELS = 9_437_184
# Style transfer's inputs: each side at most this (reference §3.17).
MAX_TRANSFER_SIDE = 16_383


class ControlRequest(StableImageRequest):
    """`control/sketch` and `control/structure`: an image steers the layout of the output."""

    image: Image.Image
    # how strongly the image steers (the ControlNet's conditioning scale)
    control_strength: float = Field(default=0.7, ge=0, le=1)

    def check(self, spec: EngineSpec) -> None:
        check_image(self.image, "image", max_pixels=MAX_INPUT_PIXELS, aspect=True)

    def to_engine(self) -> GenerationRequest:
        width, height = self.image.size
        return self._engine(
            kind=self.engine_kind,
            width=width,
            height=height,
            init_image=self.image,
            extras={"control_strength": self.control_strength},
        )


class ControlSketch(ControlRequest):
    operation = "stable-image.control-sketch"
    engine_kind = "control-sketch"


class ControlStructure(ControlRequest):
    operation = "stable-image.control-structure"
    engine_kind = "control-structure"


class ControlStyle(StableImageRequest):
    """`control/style`: a new image from the prompt in the style of `image`."""

    operation = "stable-image.control-style"
    engine_kind = "control-style"

    image: Image.Image
    aspect_ratio: AspectRatio = "1:1"
    # how closely the output's style follows the image's (the IP-Adapter scale)
    fidelity: float = Field(default=0.5, ge=0, le=1)
    width: int | None = None
    height: int | None = None

    def _settled_for(self, spec: EngineSpec) -> dict[str, Any]:
        width, height = aspect_ratio_size(spec.family, self.aspect_ratio)
        return {"width": width, "height": height}

    def check(self, spec: EngineSpec) -> None:
        check_image(self.image, "image", max_pixels=MAX_INPUT_PIXELS, aspect=True)

    def to_engine(self) -> GenerationRequest:
        width, height = self._size()
        return self._engine(
            kind="control-style",
            width=width,
            height=height,
            reference_image=self.image.convert("RGB"),
            extras={"style_strength": self.fidelity},
        )


class StyleTransfer(StableImageRequest):
    """`control/style-transfer`: `init_image` redrawn in the style of `style_image`."""

    operation = "stable-image.style-transfer"
    engine_kind = "style-transfer"

    init_image: Image.Image
    style_image: Image.Image
    style_strength: float = Field(default=1.0, ge=0, le=1)
    composition_fidelity: float = Field(default=0.9, ge=0, le=1)
    change_strength: float = Field(default=0.9, ge=0.1, le=1)
    width: int | None = None
    height: int | None = None

    def _settled_for(self, spec: EngineSpec) -> dict[str, Any]:
        width, height = fit_size(spec.family, *self.init_image.size)
        return {"width": width, "height": height}

    def check(self, spec: EngineSpec) -> None:
        for field, aspect in (("init_image", True), ("style_image", False)):
            check_image(
                getattr(self, field),
                field,
                max_side=MAX_TRANSFER_SIDE,
                max_pixels=MAX_INPUT_PIXELS,
                aspect=aspect,
            )

    def to_engine(self) -> GenerationRequest:
        width, height = self._size()
        return self._engine(
            kind="style-transfer",
            width=width,
            height=height,
            init_image=self.init_image.convert("RGB").resize(
                (width, height), Image.Resampling.LANCZOS
            ),
            reference_image=self.style_image.convert("RGB"),
            extras={
                "style_strength": self.style_strength,
                "composition_fidelity": self.composition_fidelity,
                "change_strength": self.change_strength,
            },
        )
