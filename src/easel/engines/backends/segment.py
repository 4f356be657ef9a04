"""Background removal with U²-Net: the subject on a transparent background.

`spec.model` is a U²-Net weights file in the original repository's layout
(`u2net.pth` for the full model, `u2netp.pth` for the small one, as rembg
also uses them; `.pth` or `.safetensors`). The image is resized to
`INPUT_SIZE` square, normalised with ImageNet's statistics, and the fused
saliency map is scaled back to the input's size, stretched to span 0-1 as
U²-Net's own inference does, and becomes the alpha channel of an RGBA output
whose colour channels are the input's, untouched. (The stretch means any
non-constant map has alpha 0 and 255 somewhere, the sandbox's random one too.)
One forward pass per image: progress reports one step per image.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from easel.engines.backends._common import (
    check_cancel,
    check_kinds,
    engine_errors,
    free_accelerator_memory,
    module_bytes,
    torch_dtype,
)
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.errors import EngineError, InvalidRequest

__all__ = ["SegmentEngine", "load_weights"]

INPUT_SIZE = 320  # U²-Net's training resolution
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def load_weights(path: str) -> dict[str, Any]:
    """The state dict in a `.pth` (plain, or under "state_dict") or `.safetensors` file."""
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return dict(load_file(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items()}


class SegmentEngine:
    """remove-background: RGBA with U²-Net's saliency as alpha."""

    def __init__(
        self, spec: EngineSpec, *, device: str = "cpu", dtype: str = "float32", model: str = ""
    ):
        self.spec = spec
        self.device = device
        # Batch norm in half precision drifts on CPU; keep float32 off CUDA.
        self.dtype = dtype if device.startswith("cuda") else "float32"
        self._model = model or spec.model or ""
        self._net: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def model_source(self) -> str:
        if not self._model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self._model

    @property
    def loaded(self) -> bool:
        return self._net is not None

    def load(self) -> None:
        from easel.engines.segmenters.u2net import from_state_dict

        with self._load_lock:
            if self._net is not None:
                return
            with engine_errors(self.spec.id, "loading its model"):
                source = self.model_source()
                if not Path(source).is_file():
                    raise EngineError(f"Engine {self.spec.id}: no weights file at {source}")
                net = from_state_dict(load_weights(source))
                self._net = net.to(self.device, torch_dtype(self.dtype)).eval()

    def unload(self) -> None:
        with self._load_lock:
            self._net = None
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        return 0 if self._net is None else module_bytes([self._net])

    def alpha(self, image: Image.Image) -> Image.Image:
        """The subject's alpha (mode "L", the image's size): 255 subject, 0 background."""
        import torch

        self.load()
        rgb = image.convert("RGB")
        small = rgb.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
        pixels = (np.asarray(small, dtype=np.float32) / 255.0 - _MEAN) / _STD
        tensor = torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy())
        with torch.inference_mode():
            saliency = self._net(tensor.to(self.device, torch_dtype(self.dtype)))
        saliency = Image.fromarray(saliency[0, 0].float().cpu().numpy(), "F")
        values = np.asarray(saliency.resize(rgb.size, Image.Resampling.BILINEAR))
        # stretched to span 0-1, as U²-Net's own inference does (after the resize,
        # so the output's extremes are exactly 0 and 255)
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
        return Image.fromarray((values * 255).round().astype(np.uint8), "L")

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, ("remove-background",))
        check_cancel(self.spec.id, cancel)
        self.load()
        results = []
        with self._run_lock, engine_errors(self.spec.id, "removing the background"):
            for done, request in enumerate(requests, start=1):
                check_cancel(self.spec.id, cancel)
                if request.init_image is None:
                    raise InvalidRequest("remove-background needs an image.", param="image")
                image = request.init_image.convert("RGB")
                cutout = image.copy()
                cutout.putalpha(self.alpha(image))
                results.append(
                    GenerationResult([GeneratedImage(cutout, int(s)) for s in request.seeds])
                )
                if progress is not None:
                    progress(done, len(requests))
        return results
