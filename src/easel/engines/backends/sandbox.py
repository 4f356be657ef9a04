"""The sandbox backend: tiny local models of the engine's architecture.

A sandbox engine builds (once, under `<models_dir>/<arch>`; the registry
passes `data_dir/sandbox` unless told otherwise) a tiny,
randomly initialised model of its family's real architecture with
`easel.engines.tiny`, then loads and runs it through the same backend code as
real weights (`DiffusersEngine`, `DiffusionUpscaleEngine`,
`LatentUpscaleEngine`, `EsrganEngine`). The images are deterministic noise,
not art, but every request runs the real loading, conditioning, sampling,
batching and cancellation code.

    family                            tiny model            masking uses
    sd1, sd16, sd2-768, sdxl-beta     sd                    sd-inpaint
    sdxl                              sdxl                  SDXL from_pipe
    sd3                               sd3                   SD3 from_pipe
    (kind "inpaint", any SD family)   sd-inpaint            -
    (kind "upscale", sd*/sdxl/sd3)    the family's model    -
    latent-upscaler                   sd-x4-upscaler        -
    esrgan                            esrgan-x2 (RRDBNet)   -
    svd (image-to-video)              svd                   -
    mesh (image-to-3D)                depth-anything        -
    (kind "edit", any SD family)      sd-inpaint            - (CLIPSeg: clipseg)
    (kind "edit", sdxl / sd3)         the family's model    - (CLIPSeg: clipseg)
    u2net (kind "segment")            u2net                 -
    (kind "relight", any SD family)   sd-inpaint paints     - (cut-out: u2net)
    (kind "relight", sdxl / sd3)      the family's model    - (cut-out: u2net)

The sandbox video engine runs SVD at 1/8 of the output's side and resizes
the frames: the tiny temporal VAE at 1024x576 takes 20 s a video on CPU.

Control engines (kind "control") run `ControlEngine` on the tiny SDXL, with
the tiny ControlNet (``sdxl-controlnet``) when `spec.control_model` names it
and the tiny IP-Adapter (``sdxl-ip-adapter``) when `spec.adapter_model` does.
They diffuse sketch and structure at the input's own size (sides rounded to
64, at most 1 MP) rather than scaling small inputs up to SDXL's 1 MP: tiny
models have no training size, and small inputs stay fast.

`spec.model`, when set on a sandbox engine, names the tiny architecture to
build instead (e.g. ``esrgan-x4`` for a 4x ESRGAN engine).

SDXL and SD3 masking run their own inpainting pipelines on the tiny model (as
real deployments without separate inpainting weights do) rather than the SD
1.x inpainting model, which has a different architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from easel.engines.backends.control import ControlEngine
from easel.engines.backends.depth_mesh import DepthMeshEngine
from easel.engines.backends.diffusers import DiffusersEngine, LatentUpscaleEngine
from easel.engines.backends.diffusion_upscale import DiffusionUpscaleEngine
from easel.engines.backends.edit import EditEngine
from easel.engines.backends.esrgan import EsrganEngine
from easel.engines.backends.relight import RelightEngine, painter_spec, segmenter_spec
from easel.engines.backends.segment import SegmentEngine
from easel.engines.backends.video import VideoDiffusionEngine
from easel.engines.base import EngineSpec
from easel.engines.dimensions import MAX_PIXELS, scale_within
from easel.engines.fastpath import FastPathSettings

__all__ = [
    "SandboxControlEngine",
    "SandboxDepthMeshEngine",
    "SandboxDiffusionUpscaleEngine",
    "SandboxEditEngine",
    "SandboxEngine",
    "SandboxEsrganEngine",
    "SandboxSegmentEngine",
    "SandboxUpscaleEngine",
    "SandboxVideoEngine",
    "create_sandbox_engine",
    "sandbox_relight_engine",
    "tiny_arch",
]

_SD_FAMILIES = ("sd1", "sd16", "sd2-768", "sdxl-beta")
_TINY_OF_FAMILY = {"latent-upscaler": "sd-x4-upscaler", "svd": "svd", "mesh": "depth-anything"}
# The sandbox video engine renders at 1/8 of the side, in steps of 8 (the tiny VAE's
# factor 4 times the UNet's 2).
_VIDEO_SHRINK, _VIDEO_MULTIPLE = 8, 8


def tiny_arch(spec: EngineSpec) -> str:
    """The tiny architecture the sandbox builds for `spec`."""
    if spec.model:
        return spec.model
    if spec.family in _TINY_OF_FAMILY:
        return _TINY_OF_FAMILY[spec.family]
    if spec.family == "esrgan":
        return "esrgan-x2"
    if spec.family == "u2net":
        return "u2net"
    if spec.kind in ("inpaint", "edit") and spec.family not in ("sdxl", "sd3"):
        return "sd-inpaint"
    if spec.family in ("sdxl", "sd3"):
        return spec.family
    return "sd"


def _tiny_source(spec: EngineSpec, root: Path) -> str:
    from easel.engines.tiny import ensure_tiny_model

    return str(ensure_tiny_model(tiny_arch(spec), root))


class _TinyModels:
    """Runs the backend's own code path on the tiny model built under `models_dir`."""

    spec: EngineSpec

    def __init__(
        self,
        spec: EngineSpec,
        *,
        models_dir: Path,
        device: str = "cpu",
        dtype: str = "float32",
        **options: Any,
    ):
        super().__init__(spec, device=device, dtype=dtype, **options)  # type: ignore[call-arg]
        self.root = Path(models_dir)

    def model_source(self) -> str:
        return _tiny_source(self.spec, self.root)


class SandboxEngine(_TinyModels, DiffusersEngine):
    def inpaint_source(self) -> str | None:
        from easel.engines.tiny import ensure_tiny_model

        if self.spec.kind == "generate" and self.spec.family in _SD_FAMILIES:
            return str(ensure_tiny_model("sd-inpaint", self.root))
        return None


class SandboxDiffusionUpscaleEngine(_TinyModels, DiffusionUpscaleEngine):
    def default_tile_size(self) -> int:
        # Tiny models have no training size, and the tiny VAEs' mid-block
        # attention grows with the square of a tile's area: 512 px tiles make
        # a 512 -> 3112 px upscale 2x faster on CPU than 1024 px tiles.
        return 512


class SandboxUpscaleEngine(_TinyModels, LatentUpscaleEngine):
    """The sandbox flavour of its backend."""


class SandboxEsrganEngine(_TinyModels, EsrganEngine):
    """The sandbox flavour of its backend."""


class SandboxVideoEngine(_TinyModels, VideoDiffusionEngine):
    def render_size(self, width: int, height: int) -> tuple[int, int]:
        def side(n: int) -> int:
            return max(_VIDEO_MULTIPLE, n // _VIDEO_SHRINK // _VIDEO_MULTIPLE * _VIDEO_MULTIPLE)

        return side(width), side(height)


class SandboxDepthMeshEngine(_TinyModels, DepthMeshEngine):
    """The sandbox flavour of its backend."""


class SandboxEditEngine(_TinyModels, EditEngine):
    def mask_source(self) -> str:
        from easel.engines.tiny import ensure_tiny_model

        return str(ensure_tiny_model("clipseg", self.root))


class SandboxSegmentEngine(_TinyModels, SegmentEngine):
    """The sandbox flavour of its backend."""


class SandboxControlEngine(_TinyModels, ControlEngine):
    def control_source(self) -> str | None:
        from easel.engines.tiny import ensure_tiny_model

        name = self.spec.control_model
        return None if name is None else str(ensure_tiny_model(name, self.root))

    def adapter_source(self) -> str | None:
        from easel.engines.tiny import IP_ADAPTER_WEIGHTS, ensure_tiny_model

        name = self.spec.adapter_model
        if name is None:
            return None
        return str(ensure_tiny_model(name, self.root) / IP_ADAPTER_WEIGHTS)

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        return scale_within(width, height, MAX_PIXELS, multiple=64)


def sandbox_relight_engine(
    spec: EngineSpec,
    *,
    models_dir: Path,
    device: str = "cpu",
    dtype: str = "float32",
    fast: FastPathSettings | None = None,
) -> RelightEngine:
    """A relight engine on the tiny models: its family's inpainting model and a tiny U²-Net."""
    cutout = segmenter_spec(spec).model_copy(update={"model": None})  # the tiny u2net
    return RelightEngine(
        spec,
        painter=SandboxEngine(
            painter_spec(spec), models_dir=models_dir, device=device, dtype=dtype, fast=fast
        ),
        segmenter=SandboxSegmentEngine(cutout, models_dir=models_dir, device=device, dtype=dtype),
    )


def create_sandbox_engine(
    spec: EngineSpec,
    *,
    models_dir: Path,
    device: str = "cpu",
    dtype: str = "float32",
    fast: FastPathSettings | None = None,
) -> (
    SandboxEngine
    | SandboxDiffusionUpscaleEngine
    | SandboxUpscaleEngine
    | SandboxEsrganEngine
    | SandboxVideoEngine
    | SandboxDepthMeshEngine
    | SandboxEditEngine
    | SandboxSegmentEngine
    | SandboxControlEngine
    | RelightEngine
):
    """The sandbox engine for `spec`, building its tiny model under `models_dir` on first use.

    `fast` reaches the engines that run on `DiffusersEngine` (generate, inpaint,
    edit, diffusion upscale, relight's painter).
    """
    if spec.kind == "video":
        return SandboxVideoEngine(spec, models_dir=models_dir, device=device, dtype=dtype)
    if spec.kind == "3d":
        return SandboxDepthMeshEngine(spec, models_dir=models_dir, device=device, dtype=dtype)
    if spec.kind == "control":
        return SandboxControlEngine(spec, models_dir=models_dir, device=device, dtype=dtype)
    if spec.kind == "edit":
        return SandboxEditEngine(spec, models_dir=models_dir, device=device, dtype=dtype, fast=fast)
    if spec.kind == "relight":
        return sandbox_relight_engine(
            spec, models_dir=models_dir, device=device, dtype=dtype, fast=fast
        )
    if spec.family == "u2net":
        return SandboxSegmentEngine(spec, models_dir=models_dir, device=device, dtype=dtype)
    if spec.family == "latent-upscaler":
        return SandboxUpscaleEngine(spec, models_dir=models_dir, device=device, dtype=dtype)
    if spec.family == "esrgan":
        return SandboxEsrganEngine(spec, models_dir=models_dir, device=device, dtype=dtype)
    if spec.kind == "upscale":
        return SandboxDiffusionUpscaleEngine(
            spec, models_dir=models_dir, device=device, dtype=dtype, fast=fast
        )
    return SandboxEngine(spec, models_dir=models_dir, device=device, dtype=dtype, fast=fast)
