"""Classical upscaling: a Lanczos resize to the exact requested size.

Serves the default `esrgan-v1-x2plus` sandbox engine, where no network
weights are present (its engine description says so). Needs only Pillow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from PIL import Image

from easel.engines.backends._common import NoModel
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.errors import Cancelled, InvalidRequest

__all__ = ["LanczosEngine", "upscale_requests"]


def upscale_requests(
    engine_id: str,
    requests: Sequence[GenerationRequest],
    upscale: Callable[[Image.Image, tuple[int, int]], Image.Image],
    *,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> list[GenerationResult]:
    """Run `upscale(image, (width, height))` for each request; one image per seed.

    A deterministic upscaler gives every sample of a request the same image,
    so it is computed once per request. Progress counts requests.
    """
    for request in requests:
        if request.kind != "upscale":
            raise InvalidRequest(f"Engine {engine_id} does not support {request.kind} requests.")
        if request.init_image is None:
            raise InvalidRequest("upscale needs an init_image.", param="image")
    results = []
    for i, request in enumerate(requests):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"The generation on engine {engine_id} was cancelled.")
        assert request.init_image is not None
        image = upscale(request.init_image.convert("RGB"), (request.width, request.height))
        results.append(
            GenerationResult(images=[GeneratedImage(image=image, seed=s) for s in request.seeds])
        )
        if progress is not None:
            progress(i + 1, len(requests))
    return results


class LanczosEngine(NoModel):
    """Resize with Pillow's Lanczos filter to exactly `width` x `height`."""

    def __init__(self, spec: EngineSpec, *, device: str = "cpu", dtype: str = "float32"):
        self.spec = spec

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        return upscale_requests(
            self.spec.id,
            requests,
            lambda image, size: image.resize(size, Image.Resampling.LANCZOS),
            progress=progress,
            cancel=cancel,
        )
