"""replace-background-and-relight: a U²-Net cut-out, a new background, classical relighting.

`RelightEngine` runs v2beta's replace-background-and-relight in three steps
per request, on two models it is given (`build_relight_engine` makes them
from the engine's config; the sandbox passes tiny ones):

1. Cut-out: U²-Net's saliency (`SegmentEngine.alpha`; weights from
   `spec.mask_model`) is the subject's alpha, at the output's size (the
   subject image's).
2. Background:
   - `keep_original_background`: the subject image itself (it is only relit);
   - a background prompt: painted by the SD/SDXL inpainting pipeline
     (`spec.model`, run as an inpaint engine) wherever the cut-out is not
     solid subject, around the visible subject, at the engine's working size
     (`edit.work_size`), then scaled to the output. The painting starts from
     `background_reference` (scaled and cropped to cover the output) at
     `REFERENCE_STRENGTH` of the schedule when one is given, so its colours
     and layout carry into the new background; otherwise from the original
     background at 1 - `DEPTH_KEEP` x `original_background_depth`, so a
     higher depth keeps more of the original's layout (a stand-in for
     Stability's depth conditioning, which easel does not have). The
     operation appends `foreground_prompt` to the prompt, so the model knows
     what stands in front;
   - `background_reference` alone: the reference, scaled and cropped to
     cover the output (no diffusion).
3. Light and composite: `engines.lighting.compose`, classical image
   operations (a brightness gradient from `light_source_direction` or the
   light reference's luminance, scaled by `light_source_strength`, and a
   little of the background's colour on the subject), not a learned
   relighting model. `preserve_original_subject` 1 returns the subject's
   pixels exactly where the cut-out is solid.

Progress counts one step per cut-out, the painting's denoising steps and one
step per composite; cancel is checked between steps (and within the painting).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image, ImageOps

from easel.engines.backends._common import (
    check_cancel,
    check_kinds,
    engine_errors,
    extra_fraction,
)
from easel.engines.backends.diffusers import DiffusersEngine
from easel.engines.backends.edit import work_size
from easel.engines.backends.segment import SegmentEngine
from easel.engines.base import (
    Backend,
    EngineSpec,
    GeneratedImage,
    GenerationKind,
    GenerationRequest,
    GenerationResult,
    Loadable,
    ProgressCallback,
)
from easel.engines.fastpath import FastPathSettings
from easel.engines.lighting import LightDirection, compose, light_map
from easel.errors import InvalidRequest

__all__ = [
    "RelightEngine",
    "build_relight_engine",
    "painter_spec",
    "segmenter_spec",
]

RELIGHT: GenerationKind = "replace-background-and-relight"
# Stability's defaults (reference §3.13).
DEFAULTS = {
    "preserve_original_subject": 0.6,
    "original_background_depth": 0.5,
    "light_source_strength": 0.3,
}
# Painting from the original background: depth 1 still repaints 60% of the schedule.
DEPTH_KEEP = 0.4
# Painting from a background reference: keeps its colours and rough layout.
REFERENCE_STRENGTH = 0.6
# Alpha from which the subject hides the background: only what is below is painted.
SOLID = 250
_DIRECTIONS: tuple[LightDirection, ...] = ("left", "right", "above", "below")


class Segmenter(Loadable, Protocol):
    """What the engine needs of its cut-out model (`SegmentEngine`)."""

    def alpha(self, image: Image.Image) -> Image.Image: ...


def painter_spec(spec: EngineSpec) -> EngineSpec:
    """The relight engine's spec as its inpainting pipeline's: same weights, kind inpaint."""
    return spec.model_copy(update={"kind": "inpaint"})


def segmenter_spec(spec: EngineSpec) -> EngineSpec:
    """The relight engine's spec as its cut-out model's: U²-Net from `mask_model`."""
    return spec.model_copy(update={"kind": "segment", "family": "u2net", "model": spec.mask_model})


def build_relight_engine(
    spec: EngineSpec,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    fast: FastPathSettings | None = None,
) -> RelightEngine:
    """The engine on real weights: `spec.model` paints (with the `[engine.fast]` settings of
    every diffusers engine), `spec.mask_model` cuts out."""
    return RelightEngine(
        spec,
        painter=DiffusersEngine(painter_spec(spec), device=device, dtype=dtype, fast=fast),
        segmenter=SegmentEngine(segmenter_spec(spec), device=device, dtype=dtype),
    )


@dataclass
class _Scene:
    """One request's subject, its cut-out and the background it starts from."""

    subject: Image.Image
    alpha: Image.Image
    start: Image.Image
    paints: bool
    strength: float


class _Steps:
    """One monotonic (step, total) stream over the cut-outs, the painting and composites."""

    def __init__(self, callback: ProgressCallback | None, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def to(self, done: int) -> None:
        self.done = max(self.done, min(done, self.total))
        if self.callback is not None:
            self.callback(self.done, self.total)

    def advance(self) -> None:
        self.to(self.done + 1)

    def within(self, span: int) -> Callable[[int, int], None]:
        """A sub-callback that maps its own (step, total) onto the next `span` steps."""
        start = self.done
        return lambda step, total: self.to(start + round(span * step / max(total, 1)))


class RelightEngine:
    """replace-background-and-relight on a cut-out model and a painter (module docstring)."""

    def __init__(self, spec: EngineSpec, *, painter: Backend, segmenter: Segmenter):
        self.spec = spec
        self.painter = painter
        self.segmenter = segmenter
        self._run_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self.painter.loaded and self.segmenter.loaded

    def load(self) -> None:
        self.segmenter.load()
        self.painter.load()

    def unload(self) -> None:
        self.segmenter.unload()
        self.painter.unload()

    def memory_bytes(self) -> int:
        return self.painter.memory_bytes() + self.segmenter.memory_bytes()

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, (RELIGHT,))
        check_cancel(self.spec.id, cancel)
        painting = sum(r.steps for r in requests if _paints(r))
        steps = _Steps(progress, 2 * len(requests) + painting)
        with self._run_lock, engine_errors(self.spec.id, "replacing the background"):
            scenes = []
            for request in requests:
                check_cancel(self.spec.id, cancel)
                scenes.append(self._scene(request))
                steps.advance()
            backgrounds = self._backgrounds(requests, scenes, steps.within(painting), cancel)
            steps.to(len(requests) + painting)
            results = []
            for request, scene, images in zip(requests, scenes, backgrounds, strict=True):
                check_cancel(self.spec.id, cancel)
                results.append(self._finish(request, scene, images))
                steps.advance()
        return results

    def _scene(self, request: GenerationRequest) -> _Scene:
        if request.init_image is None:
            raise InvalidRequest(f"{RELIGHT} needs a subject image.", param="subject_image")
        size = (request.width, request.height)
        subject = request.init_image.convert("RGB")
        if subject.size != size:
            subject = subject.resize(size, Image.Resampling.LANCZOS)
        alpha = self.segmenter.alpha(subject)
        start, strength = subject, 1 - DEPTH_KEEP * _fraction(request, "original_background_depth")
        reference = request.reference_image
        if reference is not None and not request.extras.get("keep_original_background"):
            start = ImageOps.fit(reference.convert("RGB"), size, Image.Resampling.LANCZOS)
            strength = REFERENCE_STRENGTH
        return _Scene(subject, alpha, start, _paints(request), strength)

    def _backgrounds(
        self,
        requests: Sequence[GenerationRequest],
        scenes: list[_Scene],
        progress: ProgressCallback,
        cancel: threading.Event | None,
    ) -> list[list[Image.Image]]:
        """One background per seed of each request: painted, or the scene's start as it is."""
        work = [
            self._painting(request, scene)
            for request, scene in zip(requests, scenes, strict=True)
            if scene.paints
        ]
        painted = iter(
            self.painter.generate(work, progress=progress, cancel=cancel) if work else []
        )
        backgrounds = []
        for request, scene in zip(requests, scenes, strict=True):
            if not scene.paints:
                backgrounds.append([scene.start] * len(request.seeds))
                continue
            images = [out.image.convert("RGB") for out in next(painted).image_outputs()]
            size = scene.subject.size
            backgrounds.append([image.resize(size, Image.Resampling.LANCZOS) for image in images])
        return backgrounds

    def _painting(self, request: GenerationRequest, scene: _Scene) -> GenerationRequest:
        """The inpainting request that paints the background around the visible subject."""
        width, height = work_size(request.width, request.height, self.spec.family)
        background = scene.alpha.point(lambda a: 255 if a < SOLID else 0)
        return GenerationRequest(
            kind="masking",
            prompts=request.prompts,
            width=width,
            height=height,
            seeds=request.seeds,
            steps=request.steps,
            cfg_scale=request.cfg_scale,
            sampler=request.sampler,
            init_image=Image.composite(scene.subject, scene.start, scene.alpha),
            mask=background,
            mask_strength=scene.strength,
        )

    def _finish(
        self, request: GenerationRequest, scene: _Scene, backgrounds: list[Image.Image]
    ) -> GenerationResult:
        light = light_map(scene.subject.size, _direction(request), request.light_image)
        strength = _fraction(request, "light_source_strength")
        preserve = _fraction(request, "preserve_original_subject")
        return GenerationResult(
            [
                GeneratedImage(
                    compose(
                        scene.subject,
                        scene.alpha,
                        background,
                        light=light,
                        strength=strength,
                        preserve=preserve,
                    ),
                    int(seed),
                )
                for background, seed in zip(backgrounds, request.seeds, strict=True)
            ]
        )


def _paints(request: GenerationRequest) -> bool:
    """Whether the background is painted: a prompt, and the original is not kept."""
    keep = bool(request.extras.get("keep_original_background"))
    return not keep and any(p.weight > 0 for p in request.prompts)


def _fraction(request: GenerationRequest, key: str) -> float:
    return extra_fraction(request, key, DEFAULTS[key])


def _direction(request: GenerationRequest) -> LightDirection | None:
    value = request.extras.get("light_source_direction")
    for direction in _DIRECTIONS:
        if value == direction:
            return direction
    if value is not None:
        raise InvalidRequest(
            f"light_source_direction: must be one of {', '.join(_DIRECTIONS)}, got {value!r}",
            param="light_source_direction",
        )
    return None
