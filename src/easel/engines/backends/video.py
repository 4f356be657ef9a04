"""Image-to-video with Stable Video Diffusion (diffusers `StableVideoDiffusionPipeline`).

`VideoDiffusionEngine` serves "image-to-video" requests: the input image
conditions SVD (through its CLIP image encoder and its VAE latent), and the
pipeline denoises every frame together. The frame count is the model's own
(`unet.config.num_frames`: 14 for SVD, 25 for SVD-XT). Request fields:

- `init_image` at `width` x `height`, the output size;
- `cfg_scale`: SVD's guidance, which ramps linearly over the frames from
  `min(1, cfg_scale)` on the first to `cfg_scale` on the last (diffusers'
  `min_guidance_scale` / `max_guidance_scale`);
- `extras["motion_bucket_id"]` (1-255, default 127): how much motion;
- `steps`, and one seed per sample (one video each).

The model is micro-conditioned on `FPS` and the video is played at that rate.
Progress counts denoising steps over all samples; cancel stops within a step.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from PIL import Image

from easel.engines.backends._common import (
    CancelSignal,
    check_cancel,
    check_kinds,
    engine_errors,
    free_accelerator_memory,
    module_bytes,
    torch_dtype,
)
from easel.engines.backends.diffusers import _load_pipeline, _Progress, checkpoint_source
from easel.engines.base import (
    EngineSpec,
    GeneratedVideo,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.errors import InvalidRequest

__all__ = ["DEFAULT_MOTION_BUCKET", "FPS", "VideoDiffusionEngine"]

FPS = 7  # the pipeline's default micro-conditioning, and the rate the video plays at
DEFAULT_MOTION_BUCKET = 127
NOISE_AUG_STRENGTH = 0.02  # diffusers' default: noise added to the conditioning image
DECODE_CHUNK = 8  # frames decoded at once; bounds the VAE's memory at 1024x576


class VideoDiffusionEngine:
    """image-to-video on Stable Video Diffusion weights (see the module doc)."""

    def __init__(
        self,
        spec: EngineSpec,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        model: str | None = None,
    ):
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self._model = model if model is not None else spec.model
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._pipe: Any = None

    def model_source(self) -> str:
        if not self._model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self._model

    def render_size(self, width: int, height: int) -> tuple[int, int]:
        """The size the pipeline runs at; frames are resized to the output size if it differs."""
        return width, height

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> None:
        import diffusers

        with self._load_lock:
            if self._pipe is None:
                with engine_errors(self.spec.id, "loading its model"):
                    self._pipe = _load_pipeline(
                        diffusers.StableVideoDiffusionPipeline,
                        checkpoint_source(self.spec, self.model_source()),
                        self.device,
                        torch_dtype(self.dtype),
                    )

    def unload(self) -> None:
        with self._load_lock:
            self._pipe = None
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        return 0 if self._pipe is None else module_bytes(self._pipe.components.values())

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, ("image-to-video",))
        check_cancel(self.spec.id, cancel)
        for request in requests:
            if request.init_image is None:
                raise InvalidRequest("image-to-video needs an image.", param="image")
            _motion_bucket(request)
        self.load()
        with self._run_lock, engine_errors(self.spec.id, "generating a video"):
            total = sum(r.steps * r.samples for r in requests)
            tracker = _Progress(progress, cancel, self.spec.id, total)
            return [
                GenerationResult([self._video(r, int(seed), tracker) for seed in r.seeds])
                for r in requests
            ]

    def _video(self, request: GenerationRequest, seed: int, tracker: _Progress) -> GeneratedVideo:
        import torch

        assert request.init_image is not None
        check_cancel(self.spec.id, tracker.cancel)
        size = (request.width, request.height)
        render = self.render_size(*size)
        image = request.init_image.convert("RGB").resize(render, Image.Resampling.LANCZOS)

        def on_step_end(p: Any, i: int, t: Any, callback_kwargs: dict[str, Any]) -> Any:
            try:
                tracker.step()
            except CancelSignal:
                p._interrupt = True
                raise
            return callback_kwargs

        frames = self._pipe(
            image=image,
            width=render[0],
            height=render[1],
            num_inference_steps=request.steps,
            min_guidance_scale=min(1.0, request.cfg_scale),
            max_guidance_scale=request.cfg_scale,
            fps=FPS,
            motion_bucket_id=_motion_bucket(request),
            noise_aug_strength=NOISE_AUG_STRENGTH,
            decode_chunk_size=DECODE_CHUNK,
            generator=torch.Generator(device="cpu").manual_seed(seed % 2**32),
            callback_on_step_end=on_step_end,
            output_type="pil",
        ).frames[0]
        if render != size:
            frames = [frame.resize(size, Image.Resampling.LANCZOS) for frame in frames]
        return GeneratedVideo([frame.convert("RGB") for frame in frames], FPS, seed)


def _motion_bucket(request: GenerationRequest) -> int:
    value = request.extras.get("motion_bucket_id", DEFAULT_MOTION_BUCKET)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 255:
        raise InvalidRequest(
            f"motion_bucket_id: must be an integer from 1 to 255, got {value!r}",
            param="motion_bucket_id",
        )
    return value
