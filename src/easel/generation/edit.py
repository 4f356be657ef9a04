"""The stable-image edit operations (v2beta `edit/*`), protocol-neutral.

Every edit answers at the input's size (outpaint: the input plus what it
adds), as Stability's live service does (reference §2, §6.14), whatever the
engine paints at internally. Masks are mode "L", white = repaint:

- erase and inpaint take the `mask` part (auto-resized to the image) or, when
  absent, the image's transparency (transparent = repaint); `edit_mask`.
- outpaint pads the canvas by `left/right/up/down`, pre-fills the new border
  by stretching the edge pixels (blurred), and repaints only the border, so
  the input's pixels come back at their offset exactly. `creativity` sets
  how much of the schedule repaints it: 0 keeps close to the stretched edges
  (half the schedule), 1 paints from pure noise.
- search-and-replace and search-and-recolor name what to repaint in text; the
  engine segments it (CLIPSeg). Recolor repaints at `RECOLOR_STRENGTH` and
  the engine keeps the input's luminance.

`grow_mask` is passed to the engine, which grows and feathers the mask
(`engines.masks.grow_mask`) on the worker, not in the API process.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageOps
from pydantic import Field

from easel.engines.base import EngineSpec, GenerationRequest
from easel.errors import InvalidRequest
from easel.generation.requests import OperationRequest
from easel.generation.stable_image import MAX_PROMPT, StableImageRequest

EDIT_MAX_PIXELS = 9_437_184
REMOVE_BACKGROUND_MAX_PIXELS = 4_194_304
MAX_OUTPAINT = 2000
RECOLOR_STRENGTH = 0.8


def check_image(
    image: Image.Image, field: str, *, max_pixels: int = EDIT_MAX_PIXELS, aspect: bool = False
) -> None:
    """Stability's edit input limits: every side >= 64, 4096-`max_pixels` pixels, aspect."""
    width, height = image.size
    if min(width, height) < 64 or not 4_096 <= width * height <= max_pixels:
        raise InvalidRequest(
            f"{field}: every side must be at least 64 pixels and the image must have "
            f"4096-{max_pixels} pixels, got {width}x{height}",
            name="invalid_image_dimensions",
        )
    if aspect and not 1 / 2.5 <= width / height <= 2.5:
        raise InvalidRequest(
            f"{field}: the aspect ratio must be between 1:2.5 and 2.5:1, got {width}x{height}",
            name="invalid_image_dimensions",
        )


def check_sides(left: int, right: int, up: int, down: int) -> None:
    """Outpaint must add something."""
    if not any((left, right, up, down)):
        raise InvalidRequest("left, right, up, down: at least one must be greater than 0")


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def edit_mask(image: Image.Image, mask: Image.Image | None) -> Image.Image:
    """The mask to repaint: the `mask` part resized to the image, else the image's alpha."""
    if mask is not None:
        mask = mask.convert("L")
        if mask.size != image.size:
            mask = mask.resize(image.size, Image.Resampling.BILINEAR)
        return mask
    if not has_alpha(image):
        raise InvalidRequest(
            "mask: is required when image has no alpha channel (transparent pixels are "
            "the ones to repaint)"
        )
    return ImageOps.invert(image.convert("RGBA").getchannel("A"))


class EditRequest(StableImageRequest):
    """An edit of one input image; the output has the image's size."""

    ASPECT_LIMITED: ClassVar[bool] = False

    image: Image.Image

    def check(self, spec: EngineSpec) -> None:
        check_image(self.image, "image", aspect=self.ASPECT_LIMITED)

    def png_parameters(self, engine_id: str) -> dict[str, Any]:
        width, height = self._output_size()
        return {
            "engine_id": engine_id,
            "kind": self.operation,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": width,
            "height": height,
            "steps": self.steps,
            "cfg_scale": self.cfg_scale,
            "style_preset": self.style_preset,
        }

    def _output_size(self) -> tuple[int, int]:
        return self.image.size

    def _edit(self, **fields: Any) -> GenerationRequest:
        width, height = self._output_size()
        fields.setdefault("init_image", self.image.convert("RGB"))
        return self._engine(width=width, height=height, **fields)


class MaskedEdit(EditRequest):
    """erase and inpaint: repaint the white of `mask` (already resolved by `edit_mask`)."""

    engine_kind = "masking"

    mask: Image.Image
    grow_mask: int = Field(default=5, ge=0, le=100)

    def to_engine(self) -> GenerationRequest:
        return self._edit(
            kind="masking", mask=self.mask.convert("L"), extras={"grow_mask": self.grow_mask}
        )


class Erase(MaskedEdit):
    """`edit/erase`: fill the masked area from its surroundings, no prompt."""

    operation = "stable-image.erase"

    grow_mask: int = Field(default=5, ge=0, le=20)


class Inpaint(MaskedEdit):
    """`edit/inpaint`: repaint the masked area with the prompt."""

    operation = "stable-image.inpaint"


class Outpaint(EditRequest):
    """`edit/outpaint`: extend the canvas and paint the new border."""

    operation = "stable-image.outpaint"
    engine_kind = "masking"
    ASPECT_LIMITED = True

    left: int = Field(default=0, ge=0, le=MAX_OUTPAINT)
    right: int = Field(default=0, ge=0, le=MAX_OUTPAINT)
    up: int = Field(default=0, ge=0, le=MAX_OUTPAINT)
    down: int = Field(default=0, ge=0, le=MAX_OUTPAINT)
    creativity: float = Field(default=0.5, ge=0, le=1)

    def check(self, spec: EngineSpec) -> None:
        super().check(spec)
        check_sides(self.left, self.right, self.up, self.down)

    def _output_size(self) -> tuple[int, int]:
        width, height = self.image.size
        return width + self.left + self.right, height + self.up + self.down

    def canvas(self) -> tuple[Image.Image, Image.Image]:
        """The padded canvas (border pre-filled from the edges) and its border mask."""
        pixels = np.asarray(self.image.convert("RGB"))
        pad = ((self.up, self.down), (self.left, self.right), (0, 0))
        stretched = Image.fromarray(np.pad(pixels, pad, mode="edge"), "RGB")
        width, height = stretched.size
        # a cheap wide blur: down to 1/16 and back, so the stripes become colour fields
        small = (max(1, width // 16), max(1, height // 16))
        blurred = stretched.resize(small, Image.Resampling.BOX).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        mask = Image.new("L", (width, height), 255)
        mask.paste(
            0, (self.left, self.up, self.left + self.image.width, self.up + self.image.height)
        )
        return Image.composite(blurred, stretched, mask), mask

    def to_engine(self) -> GenerationRequest:
        canvas, mask = self.canvas()
        return self._edit(
            kind="masking",
            init_image=canvas,
            mask=mask,
            mask_strength=0.5 + 0.5 * self.creativity,
        )


class SearchEdit(EditRequest):
    """What the two searches share: the engine finds what the `FINDER` field names."""

    ASPECT_LIMITED = True
    FINDER: ClassVar[str]
    STRENGTH: ClassVar[float] = 1.0

    grow_mask: int = Field(default=3, ge=0, le=20)

    def finder_text(self) -> str:
        return str(getattr(self, self.FINDER))

    def prompt_texts(self) -> list[tuple[str, str]]:
        return [*super().prompt_texts(), (self.FINDER, self.finder_text())]

    def to_engine(self) -> GenerationRequest:
        return self._edit(
            kind=self.engine_kind,
            mask_strength=self.STRENGTH,
            extras={"select_prompt": self.finder_text(), "grow_mask": self.grow_mask},
        )


class SearchAndReplace(SearchEdit):
    """`edit/search-and-replace`: repaint what `search_prompt` names with the prompt."""

    operation = "stable-image.search-and-replace"
    engine_kind = "search-and-replace"
    FINDER = "search_prompt"

    search_prompt: str = Field(max_length=MAX_PROMPT)


class SearchAndRecolor(SearchEdit):
    """`edit/search-and-recolor`: recolour what `select_prompt` names as the prompt says."""

    operation = "stable-image.search-and-recolor"
    engine_kind = "search-and-recolor"
    FINDER = "select_prompt"
    STRENGTH = RECOLOR_STRENGTH

    select_prompt: str = Field(max_length=MAX_PROMPT)


class RemoveBackground(OperationRequest):
    """`edit/remove-background`: the subject on a transparent background (RGBA)."""

    operation = "stable-image.remove-background"
    engine_kind = "remove-background"

    image: Image.Image
    samples: int = Field(default=1, ge=1, le=1)

    def check(self, spec: EngineSpec) -> None:
        check_image(self.image, "image", max_pixels=REMOVE_BACKGROUND_MAX_PIXELS)
        if self.output_format == "jpeg":  # no alpha in JPEG
            raise InvalidRequest("output_format: must be png or webp")

    def png_parameters(self, engine_id: str) -> dict[str, Any]:
        width, height = self.image.size
        return {"engine_id": engine_id, "kind": self.operation, "width": width, "height": height}

    def to_engine(self) -> GenerationRequest:
        width, height = self.image.size
        return GenerationRequest(
            kind="remove-background",
            prompts=[],
            width=width,
            height=height,
            seeds=list(self.seeds),
            steps=1,
            init_image=self.image.convert("RGB"),
        )
