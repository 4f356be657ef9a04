"""Control engines on diffusers: ControlNet (sketch, structure) and IP-Adapter (style).

`ControlEngine` serves v2beta's control family on one base model (SDXL by
default; any family diffusers' AutoPipelines cover), loaded from a repo id or
a local directory like `DiffusersEngine`'s, plus

- a ControlNet (`spec.control_model`, `ControlNetModel.from_pretrained`):
  control-sketch conditions it on the sketch's strokes (light on black, see
  `engines.edges.sketch_lines`: what scribble/lineart ControlNets read);
  control-structure on a Canny edge map of the input (`canny_edges`: what
  canny ControlNets read). ``extras["control_strength"]`` is the
  conditioning scale. They diffuse at `working_size` (the family's size
  nearest the input's aspect, ~1 MP for SDXL) and resize the result to the
  input's exact size, as Stability answers;
- an IP-Adapter (`spec.adapter_model`, loaded with diffusers' own
  `load_ip_adapter`, image encoder from ``image_encoder/`` beside the weights):
  control-style generates from the prompt with the reference image's
  embedding at scale ``extras["style_strength"]`` (Stability's `fidelity`);
  style-transfer runs image-to-image from `init_image` at denoise strength
  ``extras["change_strength"]`` with the style image at scale
  ``extras["style_strength"]`` and, when the engine has a ControlNet, the
  edges of `init_image` at scale ``extras["composition_fidelity"]`` (the
  ControlNet image-to-image pipeline), so the composition survives.

Each sample runs its own pipeline call with its own CPU generator (same
request, same seed, same bytes). Progress counts denoising steps over all
samples; cancel stops within one step. A style transfer whose change
strength leaves no step to run returns the content image unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from easel.engines.backends._common import (
    CancelSignal,
    check_cancel,
    check_kinds,
    engine_errors,
    extra_fraction,
    free_accelerator_memory,
    module_bytes,
    torch_dtype,
)
from easel.engines.backends.diffusers import (
    _dtype_kwargs,
    _Encoder,
    _load_pipeline,
    _prepare,
    _Progress,
    checkpoint_source,
    skipped_steps,
)
from easel.engines.base import (
    EngineSpec,
    GeneratedImage,
    GenerationKind,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.engines.dimensions import fit_size
from easel.engines.edges import canny_edges, sketch_lines
from easel.engines.schedulers import scheduler_for
from easel.errors import EngineError, InvalidRequest

__all__ = ["CONTROL_KINDS", "ControlEngine", "adapter_location"]

CONTROL_KINDS: tuple[GenerationKind, ...] = (
    "control-sketch",
    "control-structure",
    "control-style",
    "style-transfer",
)
# Stability's defaults (reference §3.14-§3.17).
DEFAULTS = {
    "control_strength": 0.7,
    "style_strength": 0.5,
    "composition_fidelity": 0.9,
    "change_strength": 0.9,
}
_STYLE_TRANSFER_STYLE_STRENGTH = 1.0


def adapter_location(source: str) -> tuple[str, str, str]:
    """(repo id or directory, sub-folder, weights file) of an IP-Adapter weights path.

    A local file `/models/ip/ip-adapter.safetensors` is (`/models/ip`, "",
    `ip-adapter.safetensors`); a hub path `h94/IP-Adapter/sdxl_models/x.safetensors`
    is (`h94/IP-Adapter`, `sdxl_models`, `x.safetensors`).
    """
    path = Path(source)
    if path.is_file():
        return str(path.parent), "", path.name
    parts = [part for part in source.split("/") if part]
    if len(parts) < 3:
        raise ValueError(
            f"adapter_model must be a local weights file or <owner>/<repo>/<path to the "
            f"weights file>; got {source!r}"
        )
    return "/".join(parts[:2]), "/".join(parts[2:-1]), parts[-1]


def _strength(request: GenerationRequest, key: str, default: float | None = None) -> float:
    return extra_fraction(request, key, DEFAULTS[key] if default is None else default)


class ControlEngine:
    """ControlNet and IP-Adapter work on one base model (see the module docstring).

    Args:
        spec: the engine's config entry (`kind` "control").
        device: torch device string.
        dtype: "float16", "bfloat16" or "float32".
    """

    def __init__(self, spec: EngineSpec, *, device: str = "cpu", dtype: str = "float32"):
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self._load_lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._pipes: dict[str, Any] = {}

    # -- sources (the sandbox overrides these to build tiny models first)

    def model_source(self) -> str:
        if not self.spec.model:
            raise InvalidRequest(f"Engine {self.spec.id} has no model configured.")
        return self.spec.model

    def control_source(self) -> str | None:
        return self.spec.control_model

    def adapter_source(self) -> str | None:
        return self.spec.adapter_model

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        """The size sketch and structure diffuse at for an output of `width` x `height`."""
        return fit_size(self.spec.family, width, height)

    # -- lifecycle

    @property
    def loaded(self) -> bool:
        return bool(self._pipes)

    def load(self) -> None:
        """Load the base model, the ControlNet and the IP-Adapter (idempotent)."""
        import diffusers

        with self._load_lock:
            if self._pipes:
                return
            with engine_errors(self.spec.id, "loading its model"):
                dtype = torch_dtype(self.dtype)
                base = _load_pipeline(
                    diffusers.AutoPipelineForText2Image,
                    checkpoint_source(self.spec, self.model_source()),
                    self.device,
                    dtype,
                )
                controlnet = None
                if control := self.control_source():
                    controlnet = diffusers.ControlNetModel.from_pretrained(
                        control, **_dtype_kwargs(dtype)
                    ).to(self.device)
                pipes: dict[str, Any] = {"base": base}
                if adapter := self.adapter_source():
                    where, subfolder, weights = adapter_location(adapter)
                    with _quiet("diffusers.models.modeling_utils"):
                        # it casts the UNet with `to()` and warns about it, needlessly
                        base.load_ip_adapter(where, subfolder=subfolder, weight_name=weights)
                    base.image_encoder.to(self.device)
                    pipes["style"] = base
                    transfer = diffusers.AutoPipelineForImage2Image.from_pipe(
                        base, **({"controlnet": controlnet} if controlnet is not None else {})
                    )
                    pipes["transfer"] = _prepare(transfer, self.device)
                if controlnet is not None:
                    control_pipe = diffusers.AutoPipelineForText2Image.from_pipe(
                        base, controlnet=controlnet
                    )
                    pipes["control"] = _prepare(control_pipe, self.device)
                self._pipes = pipes

    def unload(self) -> None:
        with self._load_lock:
            self._pipes = {}
            free_accelerator_memory()

    def memory_bytes(self) -> int:
        return module_bytes(m for p in self._pipes.values() for m in p.components.values())

    # -- generation

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GenerationResult]:
        check_kinds(self.spec.id, requests, CONTROL_KINDS)
        check_cancel(self.spec.id, cancel)
        if not requests:
            return []
        self.load()
        for request in requests:
            self._check(request)
        with self._run_lock, engine_errors(self.spec.id, "generating"):
            total = sum(self._runs(r) * r.samples for r in requests)
            tracker = _Progress(progress, cancel, self.spec.id, total)
            return [self._generate(request, tracker) for request in requests]

    def _check(self, request: GenerationRequest) -> None:
        needs = {
            "control-sketch": ("control", "a ControlNet (control_model)"),
            "control-structure": ("control", "a ControlNet (control_model)"),
            "control-style": ("style", "an IP-Adapter (adapter_model)"),
            "style-transfer": ("transfer", "an IP-Adapter (adapter_model)"),
        }
        role, what = needs[request.kind]
        if role not in self._pipes:
            raise EngineError(f"Engine {self.spec.id} has no {what} for {request.kind} requests.")
        if request.kind != "control-style" and request.init_image is None:
            raise InvalidRequest(f"{request.kind} needs an init_image.", param="init_image")
        if request.kind in ("control-style", "style-transfer") and request.reference_image is None:
            raise InvalidRequest(f"{request.kind} needs a reference image.", param="image")
        for key in self._knobs(request.kind):
            self._knob(request, key)

    @staticmethod
    def _knobs(kind: GenerationKind) -> tuple[str, ...]:
        if kind in ("control-sketch", "control-structure"):
            return ("control_strength",)
        if kind == "control-style":
            return ("style_strength",)
        return ("style_strength", "composition_fidelity", "change_strength")

    @staticmethod
    def _knob(request: GenerationRequest, key: str) -> float:
        if request.kind == "style-transfer" and key == "style_strength":
            return _strength(request, key, _STYLE_TRANSFER_STYLE_STRENGTH)
        return _strength(request, key)

    def _runs(self, request: GenerationRequest) -> int:
        """Denoising steps one sample runs."""
        if request.kind != "style-transfer":
            return request.steps
        strength = self._knob(request, "change_strength")
        return request.steps - skipped_steps(self._pipes["transfer"], request.steps, strength)

    def _generate(self, request: GenerationRequest, tracker: _Progress) -> GenerationResult:
        images = []
        for seed in request.seeds:
            check_cancel(self.spec.id, tracker.cancel)
            images.append(GeneratedImage(self._sample(request, int(seed), tracker), int(seed)))
        return GenerationResult(images)

    def _sample(self, request: GenerationRequest, seed: int, tracker: _Progress) -> Image.Image:
        size = (request.width, request.height)
        kwargs: dict[str, Any]
        if request.kind in ("control-sketch", "control-structure"):
            assert request.init_image is not None
            role = "control"
            work = self.working_size(*size)
            source = request.init_image
            if request.kind == "control-sketch":
                control = sketch_lines(source).resize(work, Image.Resampling.LANCZOS)
            else:
                control = canny_edges(source.convert("RGB").resize(work, Image.Resampling.LANCZOS))
            kwargs = {
                "image": control.convert("RGB"),
                "width": work[0],
                "height": work[1],
                "controlnet_conditioning_scale": self._knob(request, "control_strength"),
            }
        elif request.kind == "control-style":
            role = "style"
            kwargs = {"width": size[0], "height": size[1]}
        else:
            assert request.init_image is not None
            role = "transfer"
            content = request.init_image.convert("RGB")
            if content.size != size:
                content = content.resize(size, Image.Resampling.LANCZOS)
            if self._runs(request) == 0:  # nothing to denoise: the content comes back
                return content
            kwargs = {"image": content, "strength": self._knob(request, "change_strength")}
            if "controlnet" in self._pipes["transfer"].components:
                kwargs["control_image"] = canny_edges(content).convert("RGB")
                kwargs["controlnet_conditioning_scale"] = self._knob(
                    request, "composition_fidelity"
                )
        pipe = copy.copy(self._pipes[role])
        pipe.scheduler = scheduler_for(request.sampler, pipe.scheduler)
        if "image_encoder" in pipe.components and pipe.image_encoder is not None:
            # The adapter lives in the shared UNet: set its scale for this call
            # (0 for ControlNet work on an engine that also has an adapter).
            style = request.reference_image
            pipe.set_ip_adapter_scale(
                0.0 if style is None else self._knob(request, "style_strength")
            )
            shown = style or request.init_image or Image.new("RGB", size)
            kwargs["ip_adapter_image"] = shown.convert("RGB")
        out = self._call(pipe, request, seed, tracker, kwargs)
        return out if out.size == size else out.resize(size, Image.Resampling.LANCZOS)

    def _call(
        self,
        pipe: Any,
        request: GenerationRequest,
        seed: int,
        tracker: _Progress,
        kwargs: dict[str, Any],
    ) -> Image.Image:
        import torch

        conditioning = _Encoder(pipe).batch([_one_sample(request, seed)])
        runs, ran = self._runs(request), 0

        def on_step_end(p: Any, i: int, t: Any, callback_kwargs: dict[str, Any]) -> Any:
            nonlocal ran
            ran += 1
            try:
                tracker.step()
            except CancelSignal:
                p._interrupt = True  # stop the loop even if a caller swallows the exception
                raise
            return callback_kwargs

        out = pipe(
            **conditioning.as_kwargs(),
            **kwargs,
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            generator=torch.Generator(device="cpu").manual_seed(seed),
            callback_on_step_end=on_step_end,
            output_type="pil",
        ).images[0]
        tracker.skip(runs - ran)  # keep the totals right if the pipeline ran fewer
        return out.convert("RGB")


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Warnings of `logger_name` off for the duration."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _one_sample(request: GenerationRequest, seed: int) -> GenerationRequest:
    """`request` narrowed to one seed (the conditioning is built per pipeline call)."""
    return dataclasses.replace(request, seeds=[seed])
