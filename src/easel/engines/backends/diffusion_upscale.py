"""Upscaling with a generation model: resize, then a tiled image-to-image pass.

`DiffusionUpscaleEngine` serves "upscale" requests on an SD, SDXL or SD3
model (v2beta's conservative and creative upscale). For each sample it

1. resizes the input (Lanczos) to exactly `width` x `height`;
2. pads it (edge pixels) to a multiple of 64 and, when that is larger than
   the model's tile size (1024 px for SDXL and SD3, 512 px otherwise, or
   `extras["tile_size"]`), cuts it into overlapping tiles (`engines.tiling`,
   overlap one eighth of a tile);
3. runs the model's image-to-image pipeline on every tile at denoise strength
   `extras["creativity"]` (default 0.35) with the request's prompts, steps
   and cfg_scale, then blends the tiles and crops the padding.

Low strength keeps the input's content and composition and lets the model
add detail at the new resolution; higher strength invents more. Tile `i` of
a sample uses the seed `(seed + i) mod 2**32`, so tiles get different noise
and the same request gives the same bytes. Progress counts denoising steps
over all tiles and samples; cancel stops within one step.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from PIL import Image

from easel.engines.backends._common import CancelSignal, check_cancel, check_kinds, engine_errors
from easel.engines.backends.diffusers import (
    DiffusersEngine,
    _Conditioning,
    _Encoder,
    _Progress,
    output_size,
    skipped_steps,
)
from easel.engines.base import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.engines.schedulers import scheduler_for
from easel.engines.tiling import Box, map_tiles, tile_boxes
from easel.errors import InvalidRequest

__all__ = ["DEFAULT_CREATIVITY", "DiffusionUpscaleEngine"]

DEFAULT_CREATIVITY = 0.35
_MULTIPLE = 64  # tiles and padded sizes: a multiple of every VAE x patch factor
_NATIVE_TILE = {"sdxl": 1024, "sd3": 1024}


def _float_extra(request: GenerationRequest, key: str, default: float) -> float:
    value = request.extras.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidRequest(f"{key}: must be a number from 0 to 1, got {value!r}", param=key)
    return float(value)


class DiffusionUpscaleEngine(DiffusersEngine):
    """upscale on a text-to-image model through tiled image-to-image (see the module doc)."""

    def default_tile_size(self) -> int:
        """The tile side when the request names none: the model's training size."""
        return _NATIVE_TILE.get(self.spec.family, 512)

    def _tile_size(self, request: GenerationRequest) -> int:
        value = request.extras.get("tile_size", self.default_tile_size())
        if not isinstance(value, int) or isinstance(value, bool) or value < _MULTIPLE:
            raise InvalidRequest(f"tile_size: must be an integer >= {_MULTIPLE}, got {value!r}")
        return value - value % _MULTIPLE

    def _runs(self, request: GenerationRequest) -> int:
        """Denoising steps one tile runs."""
        strength = _float_extra(request, "creativity", DEFAULT_CREATIVITY)
        return request.steps - skipped_steps(self._pipes["image-to-image"], request.steps, strength)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, ("upscale",))
        check_cancel(self.spec.id, cancel)
        if not requests:
            return []
        for request in requests:
            if request.init_image is None:
                raise InvalidRequest("upscale needs an init_image.", param="image")
        self.load()
        with self._run_lock, engine_errors(self.spec.id, "upscaling"):
            total = sum(self._runs(r) * r.samples * len(self._boxes(r)) for r in requests)
            tracker = _Progress(progress, cancel, self.spec.id, total)
            return [self._upscale(request, tracker) for request in requests]

    def _padded_size(self, request: GenerationRequest) -> tuple[int, int]:
        return (
            -(-request.width // _MULTIPLE) * _MULTIPLE,
            -(-request.height // _MULTIPLE) * _MULTIPLE,
        )

    def _boxes(self, request: GenerationRequest) -> list[Box]:
        tile = self._tile_size(request)
        return tile_boxes(*self._padded_size(request), tile=tile, overlap=self._overlap(tile))

    @staticmethod
    def _overlap(tile: int) -> int:
        return max(_MULTIPLE, tile // 8 // _MULTIPLE * _MULTIPLE)

    def _upscale(self, request: GenerationRequest, tracker: _Progress) -> GenerationResult:
        assert request.init_image is not None
        size = (request.width, request.height)
        resized = request.init_image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        runs = self._runs(request)
        if runs == 0:  # nothing to denoise: the resized input is the result
            return GenerationResult([GeneratedImage(resized, int(s)) for s in request.seeds])
        base = self._pipes["image-to-image"]
        pos, neg, pooled, neg_pooled = _Encoder(base).request(request)
        conditioning = _Conditioning(pos, neg, pooled, neg_pooled).as_kwargs()
        strength = _float_extra(request, "creativity", DEFAULT_CREATIVITY)
        padded_w, padded_h = self._padded_size(request)
        # Edge pixels rather than black, so the model sees no border that is not in the picture.
        padded = _edge_pad(resized, padded_w, padded_h)
        tile = self._tile_size(request)
        images = []
        for seed in request.seeds:

            def process(tile_image: Image.Image, index: int, seed: int = int(seed)) -> Image.Image:
                return self._img2img(
                    base, tile_image, request, conditioning, strength, runs, seed + index, tracker
                )

            out = map_tiles(padded, process, tile=tile, overlap=self._overlap(tile))
            images.append(GeneratedImage(out.crop((0, 0, *size)), int(seed)))
        return GenerationResult(images)

    def _img2img(
        self,
        base: Any,
        image: Image.Image,
        request: GenerationRequest,
        conditioning: dict[str, Any],
        strength: float,
        runs: int,
        seed: int,
        tracker: _Progress,
    ) -> Image.Image:
        import torch

        check_cancel(self.spec.id, tracker.cancel)
        pipe = copy.copy(base)
        pipe.scheduler = scheduler_for(request.sampler, pipe.scheduler)
        ran = 0

        def on_step_end(p: Any, i: int, t: Any, callback_kwargs: dict[str, Any]) -> Any:
            nonlocal ran
            ran += 1
            try:
                tracker.step()
            except CancelSignal:
                p._interrupt = True
                raise
            return callback_kwargs

        out = pipe(
            **conditioning,
            image=image,
            strength=strength,
            **output_size(pipe, *image.size),
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            generator=torch.Generator(device="cpu").manual_seed(seed % 2**32),
            callback_on_step_end=on_step_end,
            output_type="pil",
        ).images[0]
        tracker.skip(runs - ran)
        return out.convert("RGB")


def _edge_pad(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` at the top left of a `width` x `height` canvas, its last row and column repeated."""
    if image.size == (width, height):
        return image
    canvas = Image.new(image.mode, (width, height))
    canvas.paste(image, (0, 0))
    w, h = image.size
    if width > w:
        canvas.paste(image.crop((w - 1, 0, w, h)).resize((width - w, h)), (w, 0))
    if height > h:
        canvas.paste(canvas.crop((0, h - 1, width, h)).resize((width, height - h)), (0, h))
    return canvas
