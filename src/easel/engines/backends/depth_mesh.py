"""Image-to-3D as a textured relief: monocular depth lifted to a height-field mesh.

No open single-image-to-3D model fits easel's dependencies (Stability's SF3D
and SPAR3D need their own CUDA extensions), so `DepthMeshEngine` serves
"image-to-3d" requests honestly with what does fit: a transformers
depth-estimation model (Depth Anything, DPT, ... by Hugging Face id or local
path, e.g. ``depth-anything/Depth-Anything-V2-Small-hf``) estimates the
relative depth of the framed subject, and `engines.heightfield` turns it into
a textured relief written as GLB. The result is the visible surface only:
the back is open and nothing the camera does not see is invented.

Request fields (`extras`): ``texture_resolution`` (px, default 1024),
``foreground_ratio`` (how much of the frame the subject fills, default 0.85;
the subject is the input's alpha, or the whole image), ``vertex_limit`` and
``face_limit`` (fit the grid under them). Depth estimation is deterministic:
the seed is recorded, not used. Progress: two steps per mesh (depth, mesh).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from easel.engines.backends._common import (
    check_cancel,
    check_kinds,
    engine_errors,
    free_accelerator_memory,
    module_bytes,
    quiet_hf,
    torch_dtype,
)
from easel.engines.base import (
    EngineSpec,
    GeneratedMesh,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.engines.heightfield import frame_subject, grid_size, heightfield_glb
from easel.errors import InvalidRequest

__all__ = ["DepthMeshEngine"]

DEFAULT_TEXTURE = 1024
DEFAULT_FOREGROUND_RATIO = 0.85
_STEPS_PER_MESH = 2


class DepthMeshEngine:
    """image-to-3d: a depth-estimation model's output as a textured relief (see the module doc)."""

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
        self._net: Any = None
        self._processor: Any = None

    def model_source(self) -> str:
        if not self._model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self._model

    @property
    def loaded(self) -> bool:
        return self._net is not None

    def load(self) -> None:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        with self._load_lock:
            if self._net is None:
                with engine_errors(self.spec.id, "loading its model"):
                    quiet_hf()
                    source = self.model_source()
                    net = AutoModelForDepthEstimation.from_pretrained(source)
                    self._processor = AutoImageProcessor.from_pretrained(source)
                    self._net = net.to(self.device, torch_dtype(self.dtype)).eval()

    def unload(self) -> None:
        with self._load_lock:
            self._net = self._processor = None
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        return 0 if self._net is None else module_bytes([self._net])

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, ("image-to-3d",))
        check_cancel(self.spec.id, cancel)
        for request in requests:
            if request.init_image is None:
                raise InvalidRequest("image-to-3d needs an image.", param="image")
        self.load()
        total = sum(r.samples for r in requests) * _STEPS_PER_MESH
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)
            check_cancel(self.spec.id, cancel)

        with self._run_lock, engine_errors(self.spec.id, "building a mesh"):
            return [
                GenerationResult([self._mesh(r, int(seed), step) for seed in r.seeds])
                for r in requests
            ]

    def _mesh(self, request: GenerationRequest, seed: int, step: Any) -> GeneratedMesh:
        import torch

        assert request.init_image is not None
        ratio = float(request.extras.get("foreground_ratio", DEFAULT_FOREGROUND_RATIO))  # type: ignore[arg-type]
        framed, alpha = frame_subject(request.init_image, ratio)
        inputs = self._processor(images=framed, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, next(self._net.parameters()).dtype)
        with torch.inference_mode():
            depth = self._net(pixel_values=pixels).predicted_depth[0].float().cpu().numpy()
        step()
        glb = heightfield_glb(
            framed,
            depth,
            alpha=alpha if _has_alpha(request.init_image) else None,
            grid=grid_size(
                vertex_limit=_optional_int(request, "vertex_limit"),
                face_limit=_optional_int(request, "face_limit"),
            ),
            texture_size=int(request.extras.get("texture_resolution", DEFAULT_TEXTURE)),  # type: ignore[call-overload]
        )
        step()
        return GeneratedMesh(glb, seed)


def _has_alpha(image: Any) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def _optional_int(request: GenerationRequest, key: str) -> int | None:
    value = request.extras.get(key)
    return None if value is None else int(value)  # type: ignore[call-overload]
