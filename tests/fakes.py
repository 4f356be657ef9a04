"""Hand-written fakes: an engine that records requests and makes seed-derived outputs
(images; frames for image-to-video, a small textured relief for image-to-3d), and a
cut-out model that finds a box."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from easel.engines.backends._common import NoModel
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GeneratedMesh,
    GeneratedOutput,
    GeneratedVideo,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.engines.heightfield import heightfield_glb
from easel.errors import Cancelled, EngineError

FAKE_FRAMES, FAKE_FPS = 3, 7


class FakeEngine(NoModel):
    """Noise images from each seed; honours progress and cancel; can be told to fail."""

    def __init__(self, spec: EngineSpec, *, steps_per_call: int | None = None) -> None:
        self.spec = spec
        self.calls: list[list[GenerationRequest]] = []
        self.fail_with: Exception | None = None
        self.steps_per_call = steps_per_call
        # When set, each step waits for `gate`; `started` fires when a call begins.
        self.gate: threading.Event | None = None
        self.started = threading.Event()

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        self.calls.append(list(requests))
        if self.fail_with is not None:
            raise self.fail_with
        total = self.steps_per_call or requests[0].steps
        self.started.set()
        for step in range(1, total + 1):
            if self.gate is not None:
                self.gate.wait(10)
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            if progress is not None:
                progress(step, total)
        return [GenerationResult([fake_output(r, seed) for seed in r.seeds]) for r in requests]


class BoxCutout(NoModel):
    """A cut-out model: the subject is the middle half of the image (alpha 255), nothing else."""

    def __init__(self) -> None:
        self.seen: list[Image.Image] = []

    def alpha(self, image: Image.Image) -> Image.Image:
        self.seen.append(image)
        return box_alpha(image.size)


def box_alpha(size: tuple[int, int]) -> Image.Image:
    """White on the middle half of `size` (a quarter in from every side), black elsewhere."""
    width, height = size
    alpha = Image.new("L", size, 0)
    alpha.paste(255, (width // 4, height // 4, width - width // 4, height - height // 4))
    return alpha


def fake_output(request: GenerationRequest, seed: int) -> GeneratedOutput:
    """What the fake engine makes for `request` with `seed`, by the request's kind."""
    if request.kind == "image-to-video":
        frames = [noise(request.width, request.height, seed + i) for i in range(FAKE_FRAMES)]
        return GeneratedVideo(frames, FAKE_FPS, seed)
    if request.kind == "image-to-3d":
        depth = np.random.default_rng(seed).random((16, 16))
        return GeneratedMesh(
            heightfield_glb(noise(16, 16, seed), depth, grid=8, texture_size=16), seed
        )
    return GeneratedImage(image=_image(request, seed), seed=seed)


def _image(request: GenerationRequest, seed: int) -> Image.Image:
    image = noise(request.width, request.height, seed)
    if request.kind == "remove-background":  # a cut-out: opaque left half, clear right half
        alpha = Image.new("L", image.size, 0)
        alpha.paste(255, (0, 0, request.width // 2, request.height))
        image.putalpha(alpha)
    return image


def noise(width: int, height: int, seed: int) -> Image.Image:
    """Seeded noise in 8-pixel blocks: distinct per seed, yet cheap to encode as PNG
    (per-pixel noise made PNG compression a fifth of the API tests' time)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
    return Image.fromarray(blocks, "RGB").resize((width, height), Image.Resampling.NEAREST)


def failing(spec: EngineSpec) -> FakeEngine:
    engine = FakeEngine(spec)
    engine.fail_with = EngineError("the fake engine failed")
    return engine
