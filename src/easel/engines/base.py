"""The seam between easel's services and its inference backends.

Engines know nothing about HTTP, credits or users: they take typed
`GenerationRequest`s and return `GenerationResult`s, report per-step progress
through a callback and stop when a cancel flag is set. `EngineSpec` is the
declarative description of one engine as it appears in config.

This module imports no torch, so config and the HTTP layer can use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from easel.engines.checkpoints import single_file_problem

if TYPE_CHECKING:
    from PIL import Image

# What an engine is for. `generate` engines serve text-to-image and
# image-to-image (and masking through their inpainting sibling pipeline);
# `inpaint` engines serve masking only; `upscale` engines serve upscale only.
# v2beta adds: `edit` engines (inpainting-based edits, text-prompted masks),
# `segment` engines (background removal), `control` engines (ControlNet, style
# adapters), `video` engines (image-to-video), `3d` engines (image-to-3D) and
# `relight` engines (replace the background, then relight).
EngineKind = Literal[
    "generate", "inpaint", "upscale", "edit", "segment", "control", "video", "3d", "relight"
]

# What an engine is asked to do. Every API operation (v1's four, v2beta's
# generate/edit/control/upscale family) maps onto one of these.
GenerationKind = Literal[
    "text-to-image",
    "image-to-image",
    "masking",
    "upscale",
    "search-and-replace",
    "search-and-recolor",
    "remove-background",
    "control-sketch",
    "control-structure",
    "control-style",
    "style-transfer",
    "image-to-video",
    "image-to-3d",
    "replace-background-and-relight",
]

# The kinds of work each engine kind serves: a new operation family is a new
# row or entry here, not a new branch in code.
ENGINE_SERVES: dict[EngineKind, frozenset[GenerationKind]] = {
    "generate": frozenset({"text-to-image", "image-to-image", "masking"}),
    "inpaint": frozenset({"masking"}),
    "upscale": frozenset({"upscale"}),
    "edit": frozenset({"masking", "search-and-replace", "search-and-recolor"}),
    "segment": frozenset({"remove-background"}),
    "control": frozenset(
        {"control-sketch", "control-structure", "control-style", "style-transfer"}
    ),
    "video": frozenset({"image-to-video"}),
    "3d": frozenset({"image-to-3d"}),
    "relight": frozenset({"replace-background-and-relight"}),
}
# How an engine kind reads in an error message ("… is an upscale engine").
ENGINE_KIND_NAMES: dict[EngineKind, str] = {
    "generate": "a generation",
    "inpaint": "an inpainting",
    "upscale": "an upscale",
    "edit": "an edit",
    "segment": "a segmentation",
    "control": "a control",
    "video": "a video",
    "3d": "a 3D",
    "relight": "a relight",
}

# The family fixes the dimension rules (see `engines.dimensions`) and the
# architecture the sandbox builds.
EngineFamily = Literal[
    "sd1",  # SD 1.x / 2.x at 512: 262 144 <= w*h <= 1 048 576
    "sd2-768",  # 768 engines: 589 824 <= w*h <= 1 048 576
    "sd16",  # SD 1.6: each side 320-1536
    "sdxl-beta",  # SDXL beta v2.2.2: 128..512, one side may reach 896
    "sdxl",  # SDXL 0.9 / 1.0: a fixed list of sizes
    "sd3",  # SD 3 / 3.5 (v2beta): sides in steps of 64, up to 1 048 576 pixels
    "esrgan",  # RRDB / SRVGG super-resolution networks
    "latent-upscaler",  # the diffusers x4 upscaler
    "svd",  # Stable Video Diffusion (image-to-video)
    "mesh",  # image-to-3D (a textured mesh as binary glTF)
    "u2net",  # U²-Net salient-object segmentation (background removal)
]

# How the engine runs. `sandbox` builds tiny local models of the family's
# architecture; `diffusers` loads real weights from a repo id or local path;
# `esrgan` loads Real-ESRGAN weights from a file; `lanczos` is a classical resize;
# `depth-mesh` lifts a monocular depth estimate (a transformers depth model) to a
# textured height-field mesh (see `engines.backends.depth_mesh`); `u2net` loads
# U²-Net segmentation weights from a file.
EngineBackend = Literal["sandbox", "diffusers", "esrgan", "lanczos", "depth-mesh", "u2net"]

# Which Stability API an engine belongs to: v1 engines are addressed by id in
# /v1 paths and listed by /v1/engines/list; v2beta engines are picked by a
# v2beta route (service path and `model` field) and never listed by v1.
EngineApi = Literal["v1", "v2beta"]

# Stability's v1 engine types.
EngineType = Literal["AUDIO", "CLASSIFICATION", "PICTURE", "STORAGE", "TEXT", "VIDEO"]


class EngineSpec(BaseModel):
    """One engine as declared in config."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Stability engine id, e.g. stable-diffusion-v1-6")
    name: str = Field(description="Human name shown by /v1/engines/list")
    description: str = Field(default="", description="Shown by /v1/engines/list")
    type: EngineType = Field(default="PICTURE", description="Stability engine type")
    kind: EngineKind = Field(default="generate", description="What the engine serves")
    family: EngineFamily = Field(description="Architecture family; sets dimension rules")
    backend: EngineBackend = Field(default="sandbox", description="How the engine runs")
    model: str | None = Field(
        default=None,
        description="Hugging Face repo id or local directory/file with the weights "
        "(diffusers / esrgan backends; diffusers also takes one single-file .safetensors "
        "checkpoint); for the sandbox backend, optionally the tiny architecture to build "
        "(e.g. esrgan-x4) instead of the family's default",
    )
    config: str | None = Field(
        default=None,
        description="For a single-file .safetensors `model`: its pipeline's configuration in "
        "the diffusers layout, as a local directory or a Hugging Face repo id already in the "
        "cache (read offline); none: the repo diffusers infers from the checkpoint, from the "
        "cache",
    )
    inpaint_model: str | None = Field(
        default=None,
        description="Optional separate inpainting weights for masking on a generate engine",
    )
    inpaint_config: str | None = Field(
        default=None,
        description="As `config`, for a single-file .safetensors `inpaint_model`",
    )
    mask_model: str | None = Field(
        default=None,
        description="Segmentation weights: CLIPSeg (Hugging Face repo id or local "
        "directory) for an edit engine's search-and-replace and search-and-recolor; a "
        "U²-Net weights file for a relight engine's subject cut-out",
    )
    control_model: str | None = Field(
        default=None,
        description="ControlNet weights (repo id or local directory) of a control engine: "
        "sketch and structure need them; style transfer uses them to keep the composition",
    )
    adapter_model: str | None = Field(
        default=None,
        description="IP-Adapter weights of a control engine (style, style transfer): the "
        "weights file as a local path or <repo id>/<path in the repo>; the CLIP image "
        "encoder is read from image_encoder/ beside it",
    )
    price: float = Field(
        default=1.0,
        ge=0,
        description="Credits for one image at the engine's base size and 30 steps",
    )
    enabled: bool = Field(default=True, description="Listed and usable when true")
    steps: int | None = Field(
        default=None,
        ge=1,
        le=150,
        description="Denoising steps when the API does not ask for a number (v2beta); none: 30",
    )
    cfg_scale: float | None = Field(
        default=None,
        ge=0,
        le=35,
        description="Guidance when the API does not ask for it (v2beta); none: the "
        "operation's default",
    )
    api: EngineApi = Field(
        default="v1",
        description="The API that serves the engine: v1 (listed by /v1/engines/list) or "
        "v2beta (picked by a v2beta route, never listed by v1)",
    )

    @model_validator(mode="after")
    def _checkpoint_files(self) -> EngineSpec:
        problem = single_file_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    def serves(self, kind: str) -> bool:
        """Whether this engine can run a request of `kind`."""
        return kind in ENGINE_SERVES[self.kind]


@dataclass(frozen=True)
class WeightedPrompt:
    text: str
    weight: float = 1.0


@dataclass
class GenerationRequest:
    """One generation, fully validated; seeds are already resolved.

    `seeds` has one entry per sample. Images are PIL images in RGB; `mask` is
    mode "L" where white (255) marks pixels to repaint and black pixels are kept.
    For upscale, `width`/`height` are the exact output size.

    `extras` carries backend-specific knobs. Diffusion upscalers (an
    "upscale" engine on a generation family, e.g. v2beta's conservative and
    creative upscale) read:

    - ``"creativity"``: float 0-1, the denoise strength of their img2img pass
      (0 keeps the resized input, 1 ignores it); default 0.35.
    - ``"tile_size"``: int, the side in pixels (a multiple of 64) of the tiles
      the output is diffused in; default the family's native size.

    Edit engines read, for search-and-replace and search-and-recolor:

    - ``"select_prompt"``: str, what to find (the mask is segmented from it).
    - ``"grow_mask"``: int, pixels the found mask grows by (then feathered).

    Control engines (see `backends.control`) read, all floats 0-1:

    - control-sketch / control-structure: ``"control_strength"`` (the
      ControlNet's conditioning scale; default 0.7). `init_image` is the
      sketch or the image whose structure is kept; `width`/`height` are the
      exact output size (the engine diffuses at its own working size).
    - control-style: ``"style_strength"`` (the IP-Adapter scale; default 0.5);
      `reference_image` is the style.
    - style-transfer: ``"style_strength"`` (default 1), ``"composition_fidelity"``
      (the ControlNet scale on `init_image`'s edges; default 0.9) and
      ``"change_strength"`` (the img2img denoise strength; default 0.9);
      `init_image` is the content, `reference_image` the style.

    Relight engines (replace-background-and-relight, see `backends.relight`):
    `init_image` is the subject image, `reference_image` the optional
    background reference, `light_image` the optional light reference, and
    `prompts` the background's (empty when it is not painted). They read
    Stability's fields from `extras`: ``"preserve_original_subject"``,
    ``"original_background_depth"`` and ``"light_source_strength"`` (floats
    0-1; defaults 0.6, 0.5, 0.3), ``"keep_original_background"`` (bool) and
    ``"light_source_direction"`` (left, right, above, below, or absent).
    """

    kind: GenerationKind
    prompts: Sequence[WeightedPrompt]
    width: int
    height: int
    seeds: Sequence[int]
    steps: int = 30
    cfg_scale: float = 7.0
    sampler: str | None = None
    style_preset: str | None = None
    init_image: Image.Image | None = None
    # image-to-image: fraction of the init image kept (Stability's image_strength);
    # the diffusers `strength` is 1 - image_strength.
    image_strength: float = 0.35
    # STEP_SCHEDULE: when set, the denoising runs only over [start, end] of the schedule.
    step_schedule_start: float | None = None
    step_schedule_end: float | None = None
    mask: Image.Image | None = None
    # masking: how much of the schedule repaints the masked area (1: from pure noise;
    # less keeps some of the init image there, as v2beta's outpaint and recolor do).
    mask_strength: float = 1.0
    # control-style and style-transfer: the image whose style is followed.
    reference_image: Image.Image | None = None
    # replace-background-and-relight: the image whose bright parts are lit.
    light_image: Image.Image | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return len(self.seeds)

    @property
    def denoise_strength(self) -> float:
        """How much of the schedule is run, from 0 (keep the init image) to 1 (from noise).

        image-to-image: `step_schedule_start` when given, else 1 - `image_strength`
        (the diffusers `strength`). masking: `mask_strength`. Every other kind: 1.0.
        """
        if self.kind == "masking":
            return min(max(self.mask_strength, 0.0), 1.0)
        if self.kind != "image-to-image":
            return 1.0
        if self.step_schedule_start is not None:
            return min(max(self.step_schedule_start, 0.0), 1.0)
        return min(max(1.0 - self.image_strength, 0.0), 1.0)

    def batch_key(self) -> tuple[object, ...]:
        """Requests with equal keys can run as one batch (one pipeline call) on an engine.

        Engines accept any mix of requests, but run one pipeline call per
        distinct key; a scheduler that batches by this key gets exactly one.
        """
        end = self.step_schedule_end
        return (
            self.kind,
            self.width,
            self.height,
            self.steps,
            float(self.cfg_scale),
            self.sampler,
            round(self.denoise_strength, 6),
            None if end is None or end >= 1 else round(end, 6),
        )


FinishReason = Literal["SUCCESS", "ERROR", "CONTENT_FILTERED"]


@dataclass
class GeneratedImage:
    image: Image.Image
    seed: int
    finish_reason: FinishReason = "SUCCESS"


@dataclass
class GeneratedVideo:
    """Image-to-video output: the frames in order, played at `fps`."""

    frames: list[Image.Image]
    fps: float
    seed: int
    finish_reason: FinishReason = "SUCCESS"


@dataclass
class GeneratedMesh:
    """Image-to-3D output: a textured mesh, already as binary glTF (GLB) bytes."""

    glb: bytes
    seed: int
    finish_reason: FinishReason = "SUCCESS"


# One output of an engine; the generation layer encodes each kind (`Work.encode`).
GeneratedOutput = GeneratedImage | GeneratedVideo | GeneratedMesh


@dataclass
class GenerationResult:
    # One entry per sample; images for most kinds, a video or a mesh for those kinds.
    images: Sequence[GeneratedOutput]

    def image_outputs(self) -> list[GeneratedImage]:
        """The outputs as images, for code that post-processes an image pipeline's result."""
        outputs = [o for o in self.images if isinstance(o, GeneratedImage)]
        if len(outputs) != len(self.images):
            raise TypeError("this result holds outputs that are not images")
        return outputs


# Called after each denoising step with (step, total_steps).
ProgressCallback = Callable[[int, int], None]


class Engine(Protocol):
    """A loaded (or lazily loading) engine."""

    spec: EngineSpec

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        """Run one or more compatible requests as a batch; one result per request.

        Raises `easel.errors.Cancelled` when `cancel` is set between steps and
        `easel.errors.EngineError` on failure.
        """
        ...


class Loadable(Protocol):
    """A model that loads on demand, can be unloaded, and says how much memory it holds."""

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def unload(self) -> None: ...

    def memory_bytes(self) -> int: ...


class Backend(Engine, Loadable, Protocol):
    """An engine whose models the registry loads and evicts: what every backend class is."""


class EngineSource(Protocol):
    """Where a runner gets engines from: the registry, or a test's fakes."""

    def get(self, engine_id: str) -> Engine: ...
