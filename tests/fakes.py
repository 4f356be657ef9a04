"""Hand-written fakes: an engine that records requests and makes seed-derived images."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.errors import Cancelled, EngineError


class FakeEngine:
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
        return [
            GenerationResult(
                images=[GeneratedImage(image=_output(r, seed), seed=seed) for seed in r.seeds]
            )
            for r in requests
        ]


def _output(request: GenerationRequest, seed: int) -> Image.Image:
    image = noise(request.width, request.height, seed)
    if request.kind == "remove-background":  # a cut-out: opaque left half, clear right half
        alpha = Image.new("L", image.size, 0)
        alpha.paste(255, (0, 0, request.width // 2, request.height))
        image.putalpha(alpha)
    return image


def noise(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def failing(spec: EngineSpec) -> FakeEngine:
    engine = FakeEngine(spec)
    engine.fail_with = EngineError("the fake engine failed")
    return engine
