"""v2beta edits on a diffusers inpainting pipeline, with CLIPSeg for text-prompted masks.

`EditEngine` serves an `edit` engine's three kinds of work:

- masking (v2beta erase, inpaint and outpaint; the operation has already
  built the mask, padded the canvas or taken the mask from the alpha channel):
  the mask grows by ``extras["grow_mask"]`` pixels and is feathered
  (`easel.engines.masks.grow_mask`), then the inpainting pipeline repaints it
  at the request's `mask_strength`.
- search-and-replace: CLIPSeg segments ``extras["select_prompt"]``
  (transformers `CLIPSegForImageSegmentation` + `CLIPSegProcessor`, from
  `spec.mask_model`); pixels whose probability reaches `SEARCH_THRESHOLD`
  form the mask, which then grows and is inpainted with the prompt.
- search-and-recolor: the same mask, inpainted at the operation's lower
  `mask_strength`; the result keeps the input's luminance (the Y of YCbCr)
  and takes only its colour, so shapes and shading stay the input's.

The inpainting pipeline is `AutoPipelineForInpainting` from `spec.model`: an
inpainting checkpoint (9-channel UNet, e.g. `stabilityai/stable-diffusion-2-inpainting`
or `diffusers/stable-diffusion-xl-1.0-inpainting-0.1`) or a plain SD/SDXL
one (diffusers then blends the masked latents). It runs at the engine's
working resolution: the input scaled down to at most `WORK_PIXELS` of its
family, in multiples of 8. The output comes back at the input's size: the
repainted pixels are scaled up and composited onto the untouched input with
the grown mask as alpha, so every pixel the mask leaves at 0 is the input's,
exactly. A mask that marks nothing returns the input unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence

from PIL import Image

from easel.engines.backends._common import (
    check_cancel,
    check_kinds,
    engine_errors,
    module_bytes,
    torch_dtype,
)
from easel.engines.backends.diffusers import DiffusersEngine
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationKind,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.engines.fastpath import FastPathSettings
from easel.engines.masks import binarize, grow_mask, is_empty
from easel.errors import EngineError

__all__ = ["EditEngine", "TextMasker", "work_size"]

EDIT_KINDS: tuple[GenerationKind, ...] = ("masking", "search-and-replace", "search-and-recolor")
SEARCH_THRESHOLD = 0.4
# The most pixels the pipeline paints at: what each family was trained around.
WORK_PIXELS = {"sdxl": 1024 * 1024, "sd3": 1024 * 1024, "sd2-768": 768 * 768}
DEFAULT_WORK_PIXELS = 512 * 512


def work_size(width: int, height: int, family: str) -> tuple[int, int]:
    """The size the pipeline paints at: scaled down to the family's pixels, multiples of 8."""
    limit = WORK_PIXELS.get(family, DEFAULT_WORK_PIXELS)
    scale = min(1.0, math.sqrt(limit / (width * height)))
    return (max(64, round(width * scale / 8) * 8), max(64, round(height * scale / 8) * 8))


class TextMasker:
    """CLIPSeg: a mask of what a text names in an image."""

    def __init__(self, source: str, *, device: str, dtype: str):
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        self.device = device
        self.processor = CLIPSegProcessor.from_pretrained(source)
        # loaded in float32, then cast: transformers renamed `torch_dtype` to `dtype` (4.56)
        model = CLIPSegForImageSegmentation.from_pretrained(source)
        self.model = model.to(device=device, dtype=torch_dtype(dtype))  # type: ignore[call-arg]
        self.model.eval()

    def probabilities(self, image: Image.Image, text: str) -> Image.Image:
        """Per-pixel probability (0-255, mode "L", the image's size) that it shows `text`."""
        import torch

        inputs = self.processor(
            text=[text], images=[image.convert("RGB")], padding="max_length", return_tensors="pt"
        )
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        probs = logits.float().sigmoid().reshape(logits.shape[-2:]).cpu().numpy()
        small = Image.fromarray((probs * 255).round().astype("uint8"), "L")
        return small.resize(image.size, Image.Resampling.BILINEAR)

    def mask(self, image: Image.Image, text: str) -> Image.Image:
        return binarize(self.probabilities(image, text), round(SEARCH_THRESHOLD * 255))


class EditEngine(DiffusersEngine):
    """Masking, search-and-replace and search-and-recolor on one inpainting pipeline.

    Args:
        spec: the engine's config entry (`kind` "edit").
        mask_model: CLIPSeg weights (repo id or directory); default `spec.mask_model`.
    """

    def __init__(
        self,
        spec: EngineSpec,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        model: str | None = None,
        mask_model: str | None = None,
        fast: FastPathSettings | None = None,
    ):
        super().__init__(spec, device=device, dtype=dtype, model=model, fast=fast)
        self._mask_model = mask_model if mask_model is not None else spec.mask_model
        self._masker: TextMasker | None = None
        self._masker_lock = threading.Lock()

    def mask_source(self) -> str:
        if not self._mask_model:
            raise EngineError(
                f"Engine {self.spec.id} has no `mask_model` (CLIPSeg weights) for "
                "text-prompted masks."
            )
        return self._mask_model

    def masker(self) -> TextMasker:
        """The CLIPSeg model, loaded on the first search request."""
        with self._masker_lock:
            if self._masker is None:
                with engine_errors(self.spec.id, "loading its segmentation model"):
                    self._masker = TextMasker(
                        self.mask_source(), device=self.device, dtype=self.dtype
                    )
            return self._masker

    def unload(self) -> None:
        with self._masker_lock:
            self._masker = None
        super().unload()

    def memory_bytes(self) -> int:
        masker = self._masker
        return super().memory_bytes() + (module_bytes([masker.model]) if masker else 0)

    def search_mask(self, request: GenerationRequest) -> Image.Image:
        """The mask a search request repaints, before it grows: what its prompt names."""
        if request.init_image is None:
            raise EngineError(f"{request.kind} needs an image.")
        text = str(request.extras.get("select_prompt", ""))
        with engine_errors(self.spec.id, "segmenting"):
            return self.masker().mask(request.init_image, text)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, EDIT_KINDS)
        check_cancel(self.spec.id, cancel)
        full = [self._full_size(r) for r in requests]
        work = [self._work_request(r, mask) for r, (_, mask) in zip(requests, full, strict=True)]
        to_run = [i for i, (_, mask) in enumerate(full) if not is_empty(mask)]
        painted = dict(
            zip(
                to_run,
                super().generate([work[i] for i in to_run], progress=progress, cancel=cancel),
                strict=True,
            )
        )
        results = []
        for i, request in enumerate(requests):
            init, mask = full[i]
            if i not in painted:  # nothing to repaint
                images = [GeneratedImage(init.copy(), int(seed)) for seed in request.seeds]
            else:
                images = [
                    GeneratedImage(self._finish(request, out.image, init, mask), out.seed)
                    for out in painted[i].image_outputs()
                ]
            results.append(GenerationResult(images=images))
        return results

    def _full_size(self, request: GenerationRequest) -> tuple[Image.Image, Image.Image]:
        """The input and the grown mask at the output size."""
        if request.init_image is None:
            raise EngineError(f"{request.kind} needs an image.")
        size = (request.width, request.height)
        init = request.init_image.convert("RGB")
        if init.size != size:
            init = init.resize(size, Image.Resampling.LANCZOS)
        if request.kind == "masking":
            if request.mask is None:
                raise EngineError("masking needs a mask.")
            mask = request.mask.convert("L")
        else:
            mask = self.search_mask(dataclasses.replace(request, init_image=init))
        if mask.size != size:
            mask = mask.resize(size, Image.Resampling.BILINEAR)
        grow = request.extras.get("grow_mask", 0)
        return init, grow_mask(mask, int(grow) if isinstance(grow, int | float) else 0)

    def _work_request(self, request: GenerationRequest, mask: Image.Image) -> GenerationRequest:
        width, height = work_size(request.width, request.height, self.spec.family)
        init = request.init_image
        assert init is not None
        return dataclasses.replace(
            request, kind="masking", width=width, height=height, mask=mask, init_image=init
        )

    @staticmethod
    def _finish(
        request: GenerationRequest, painted: Image.Image, init: Image.Image, mask: Image.Image
    ) -> Image.Image:
        painted = painted.convert("RGB")
        if painted.size != init.size:
            painted = painted.resize(init.size, Image.Resampling.LANCZOS)
        if request.kind == "search-and-recolor":
            # the input's luminance, the painted colour
            _, cb, cr = painted.convert("YCbCr").split()
            luma = init.convert("YCbCr").getchannel("Y")
            painted = Image.merge("YCbCr", (luma, cb, cr)).convert("RGB")
        return Image.composite(painted, init, mask)
