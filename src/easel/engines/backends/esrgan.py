"""Real-ESRGAN upscaling (RRDBNet / SRVGGNetCompact) from a weights file.

`spec.model` is the path of a `.pth` or `.safetensors` file in Real-ESRGAN's
key layout (see `easel.engines.upscalers`). The network runs in float32 on
CPU (and MPS), in the registry's dtype on CUDA, over tiles of at most
`tile` x `tile` input pixels with a `tile_pad` overlap so large images fit in
memory; its output is then resized with Lanczos to exactly the requested
`width` x `height`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from easel.engines.backends._common import (
    engine_errors,
    free_accelerator_memory,
    module_bytes,
    torch_dtype,
)
from easel.engines.backends.lanczos import upscale_requests
from easel.engines.base import EngineSpec, GenerationRequest, GenerationResult, ProgressCallback
from easel.errors import InvalidRequest

__all__ = ["EsrganEngine", "run_tiled"]


def run_tiled(
    net: Any, image: Any, *, scale: int, tile: int = 256, tile_pad: int = 16, mod: int = 1
) -> Any:
    """Run `net` over (1, C, H, W) `image` tile by tile; returns (1, C, H*scale, W*scale).

    `mod`: the net needs H and W divisible by it (pixel-unshuffle); the image
    is reflect-padded up to a multiple and the output cropped back.
    """
    import torch
    from torch.nn import functional as F

    _, _, h, w = image.shape
    pad_h, pad_w = (-h) % mod, (-w) % mod
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
    _, c, ph, pw = image.shape
    tile = max(mod, tile - tile % mod)
    tile_pad = tile_pad - tile_pad % mod
    out = None
    for y0 in range(0, ph, tile):
        for x0 in range(0, pw, tile):
            y1, x1 = min(y0 + tile, ph), min(x0 + tile, pw)
            py0, px0 = max(y0 - tile_pad, 0), max(x0 - tile_pad, 0)
            py1, px1 = min(y1 + tile_pad, ph), min(x1 + tile_pad, pw)
            result = net(image[:, :, py0:py1, px0:px1])
            if out is None:
                out = torch.empty(
                    (1, result.shape[1], ph * scale, pw * scale),
                    dtype=result.dtype,
                    device=result.device,
                )
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
    assert out is not None
    return out[:, :, : h * scale, : w * scale]


class EsrganEngine:
    """Upscale with a Real-ESRGAN network, then resize exactly to the requested size."""

    def __init__(
        self,
        spec: EngineSpec,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        model: str | Path | None = None,
        tile: int = 256,
    ):
        self.spec = spec
        self.device = device
        # Half precision only where it is fast and safe: on CUDA.
        self.dtype = dtype if device.startswith("cuda") else "float32"
        self._model = model if model is not None else spec.model
        self.tile = tile
        self._lock = threading.Lock()
        self._upscaler: Any = None

    def model_source(self) -> str | Path:
        if not self._model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self._model

    @property
    def loaded(self) -> bool:
        return self._upscaler is not None

    def load(self) -> None:
        from easel.engines.upscalers import load_upscaler

        with self._lock:
            if self._upscaler is None:
                with engine_errors(self.spec.id, "loading its model"):
                    upscaler = load_upscaler(self.model_source())
                    upscaler.net.to(device=self.device, dtype=torch_dtype(self.dtype))
                    self._upscaler = upscaler

    def unload(self) -> None:
        with self._lock:
            self._upscaler = None
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        return 0 if self._upscaler is None else module_bytes([self._upscaler.net])

    def _upscale(self, image: Image.Image, size: tuple[int, int]) -> Image.Image:
        import torch

        upscaler = self._upscaler
        array = np.asarray(image, dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
        tensor = tensor.to(device=self.device, dtype=torch_dtype(self.dtype))
        # RRDBNet x2/x1 pixel-unshuffle their input by 2/4.
        mod = {2: 2, 1: 4}.get(upscaler.scale, 1) if upscaler.arch == "RRDBNet" else 1
        with torch.inference_mode():
            out = run_tiled(upscaler.net, tensor, scale=upscaler.scale, tile=self.tile, mod=mod)
            out = out.squeeze(0).float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        result = Image.fromarray((out * 255.0).round().astype(np.uint8), "RGB")
        return result if result.size == size else result.resize(size, Image.Resampling.LANCZOS)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        self.load()
        with self._lock, engine_errors(self.spec.id, "upscaling"):
            return upscale_requests(
                self.spec.id, requests, self._upscale, progress=progress, cancel=cancel
            )
