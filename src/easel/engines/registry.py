"""The engine registry: specs from config, engines built lazily, models kept within a budget.

`EngineRegistry` is the only place that picks a backend class from
`spec.backend` (and `spec.family`), and the only owner of model memory:

- `get(id)` builds the engine object on first use (cheap; nothing loads yet).
- `preload(ids)` loads models ahead of the first request (`[engine] preload`);
  the server runs it in a background thread and `/readyz` waits for it.
- A model loads on the engine's first `generate` and stays loaded.
- Loaded models are tracked least-recently-used with their size in bytes
  (parameters and buffers, measured after loading and after every call,
  since a generate engine loads its inpainting pipeline on first masking).
  Before a model loads, and whenever the total exceeds the memory budget,
  idle models are unloaded, least recently used first. A model that is in
  use is never unloaded, and neither is the one used last, so a model larger
  than the budget still runs (alone) without reloading on every call.
  If loading runs out of memory, every idle model is unloaded and the load
  is tried once more.

Device and dtype: "auto" picks CUDA with float16 when available, else Apple
MPS with float32, else CPU with float32. The diffusers engines (generate,
inpaint, edit and diffusion-upscale) get the fast-path settings
(`easel.engines.fastpath`); the registry sets the process-wide torch flags
of the plan (cuDNN modes, compile cache) before it builds a torch backend.
The default memory budget (None) is 85% of the CUDA device's memory, or half
of the machine's RAM otherwise.

This module imports no torch at import time, so the HTTP layer can list
engines without the inference extra installed; torch is imported when a
torch backend is first built.
"""

from __future__ import annotations

import builtins
import importlib
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from easel.engines.base import (
    Backend,
    Engine,
    EngineSpec,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from easel.engines.fastpath import FastPathSettings
from easel.engines.tiny import TINY_ARCHITECTURES as _TINY
from easel.errors import NotFound, OutOfMemory

__all__ = ["EngineRegistry"]

_DTYPES = ("auto", "float16", "bfloat16", "float32")
_UPSCALER_FAMILIES = ("esrgan", "latent-upscaler")


class _ManagedEngine:
    """The `Engine` handed out by the registry: loads on demand and keeps the LRU current."""

    def __init__(self, registry: EngineRegistry, backend: Backend):
        self.spec = backend.spec
        self.backend = backend
        self._registry = registry

    @property
    def loaded(self) -> bool:
        return self.backend.loaded

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> builtins.list[GenerationResult]:
        self._registry._acquire(self.spec.id)
        try:
            return self.backend.generate(requests, progress=progress, cancel=cancel)
        finally:
            self._registry._release(self.spec.id)


class EngineRegistry:
    """Engines declared in config, built lazily, with models kept within a memory budget.

    Args:
        specs: engine specs in config order (ids must be unique).
        data_dir: easel's data directory.
        device: "auto", or a torch device ("cuda", "cuda:1", "mps", "cpu").
        dtype: "auto", "float16", "bfloat16" or "float32".
        memory_budget_mb: how much model memory may stay loaded; None picks
            a default from the hardware (see the module docstring).
        models_dir: where sandbox engines build their tiny models; default
            `data_dir/sandbox`. Processes pointed at the same directory share
            the models (builds are atomic).
        fast: the diffusers engines' fast-path settings (``[engine.fast]``);
            default: every switch "auto".
    """

    def __init__(
        self,
        specs: Sequence[EngineSpec],
        *,
        data_dir: Path,
        device: str = "auto",
        dtype: str = "auto",
        memory_budget_mb: int | None = None,
        models_dir: Path | None = None,
        fast: FastPathSettings | None = None,
    ):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}; got {dtype!r}")
        if memory_budget_mb is not None and memory_budget_mb < 0:
            raise ValueError(f"memory_budget_mb must be >= 0; got {memory_budget_mb}")
        self._specs: dict[str, EngineSpec] = {}
        for spec in specs:
            if spec.id in self._specs:
                raise ValueError(f"engine id {spec.id!r} is declared twice")
            _check_spec(spec)
            self._specs[spec.id] = spec
        self.data_dir = Path(data_dir)
        self.models_dir = Path(models_dir) if models_dir is not None else self.data_dir / "sandbox"
        self._requested_device = device
        self._requested_dtype = dtype
        self._budget_mb = memory_budget_mb
        self.fast = fast if fast is not None else FastPathSettings()
        self._torch_configured = False
        self._device: str | None = None
        self._dtype: str | None = None
        self._budget: int | None = None
        self._lock = threading.RLock()
        self._engines: dict[str, _ManagedEngine] = {}
        self._loaded: OrderedDict[str, int] = OrderedDict()  # least recently used first
        self._in_use: Counter[str] = Counter()
        self._last_size: dict[str, int] = {}  # measured size of each model when last loaded
        self._preloading: builtins.list[str] = []  # ids still to load, in order
        self._preload_errors: dict[str, str] = {}
        # called after each model load: worker processes freeze their heap here (easel.heap)
        self.after_load: Callable[[], None] = lambda: None

    # -- specs

    def list(self) -> builtins.list[EngineSpec]:
        """Enabled engines, in config order."""
        return [spec for spec in self._specs.values() if spec.enabled]

    def spec(self, engine_id: str) -> EngineSpec:
        """The enabled engine `engine_id`; raises NotFound otherwise."""
        spec = self._specs.get(engine_id)
        if spec is None or not spec.enabled:
            raise NotFound(f"The specified engine (ID {engine_id}) was not found.")
        return spec

    def get(self, engine_id: str) -> Engine:
        """The engine `engine_id`, built on first use (its model loads on first generate)."""
        spec = self.spec(engine_id)
        with self._lock:
            engine = self._engines.get(engine_id)
            if engine is None:
                engine = _ManagedEngine(self, self._build(spec))
                self._engines[engine_id] = engine
            return engine

    # -- hardware

    @property
    def device(self) -> str:
        """The torch device engines run on (resolved on first use)."""
        with self._lock:
            if self._device is None:
                self._device = _resolve_device(self._requested_device)
            return self._device

    @property
    def dtype(self) -> str:
        """The floating-point type models are loaded in."""
        with self._lock:
            if self._dtype is None:
                self._dtype = _resolve_dtype(self._requested_dtype, self.device)
            return self._dtype

    @property
    def memory_budget_bytes(self) -> int:
        with self._lock:
            if self._budget is None:
                if self._budget_mb is not None:
                    self._budget = self._budget_mb * 1024 * 1024
                else:
                    self._budget = _default_budget(self.device)
            return self._budget

    # -- loaded models

    def loaded_engine_ids(self) -> builtins.list[str]:
        """Ids of engines whose models are loaded, least recently used first."""
        with self._lock:
            return builtins.list(self._loaded)

    def memory_used_bytes(self) -> int:
        """Estimated bytes of all loaded models."""
        with self._lock:
            return sum(self._loaded.values())

    def unload(self, engine_id: str) -> None:
        """Unload one engine's model now (it reloads on its next use)."""
        with self._lock:
            engine = self._engines.get(engine_id)
            if engine is not None:
                engine.backend.unload()
            self._loaded.pop(engine_id, None)

    def unload_all(self) -> None:
        """Unload every model, e.g. at shutdown."""
        with self._lock:
            for engine_id in builtins.list(self._engines):
                self.unload(engine_id)

    # -- preloading

    def preload(self, engine_ids: Sequence[str]) -> None:
        """Load these engines' models now (within the memory budget), in order."""
        for engine_id in engine_ids:
            self.get(engine_id)  # builds the engine object
            self._acquire(engine_id)  # loads its model, evicting idle ones beyond the budget
            self._release(engine_id)

    def check_preload(self, engine_ids: Sequence[str]) -> None:
        """Raise `ValueError` naming the ids no engine has (a typo in `[engine] preload`)."""
        unknown = [engine_id for engine_id in engine_ids if engine_id not in self._specs]
        if unknown:
            raise ValueError(f"[engine] preload: unknown engine ids {', '.join(unknown)}")

    def preload_in_background(self, engine_ids: Sequence[str]) -> threading.Thread | None:
        """Start `preload` in a daemon thread; `not_ready()` names what is still loading.

        Unknown ids raise `ValueError` at once, so a typo fails the start.
        """
        self.check_preload(engine_ids)
        if not engine_ids:
            return None
        with self._lock:
            self._preloading = builtins.list(engine_ids)

        def run() -> None:
            for engine_id in engine_ids:
                try:
                    self.preload([engine_id])
                except Exception as exc:  # reported by not_ready(); a request retries the load
                    with self._lock:
                        self._preload_errors[engine_id] = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._preloading.remove(engine_id)

        thread = threading.Thread(target=run, name="easel-preload", daemon=True)
        thread.start()
        return thread

    def not_ready(self) -> str | None:
        """Why the preloaded engines are not ready yet (or failed), else ``None``."""
        with self._lock:
            if self._preloading:
                return f"loading engines: {', '.join(self._preloading)}"
            if self._preload_errors:
                failed = "; ".join(f"{k}: {v}" for k, v in self._preload_errors.items())
                return f"engines failed to load: {failed}"
            return None

    # -- internals

    def _build(self, spec: EngineSpec) -> Backend:
        if spec.backend == "lanczos":  # no torch needed
            cls: Any = _import("easel.engines.backends.lanczos", "LanczosEngine")
            backend: Backend = cls(spec)
            return backend
        self._configure_torch()
        kwargs: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        if spec.backend == "sandbox":
            create = _import("easel.engines.backends.sandbox", "create_sandbox_engine")
            backend = create(spec, models_dir=self.models_dir, fast=self.fast, **kwargs)
        elif spec.backend == "esrgan":
            backend = _import("easel.engines.backends.esrgan", "EsrganEngine")(spec, **kwargs)
        elif spec.backend == "depth-mesh":
            cls = _import("easel.engines.backends.depth_mesh", "DepthMeshEngine")
            backend = cls(spec, **kwargs)
        elif spec.kind == "video":
            cls = _import("easel.engines.backends.video", "VideoDiffusionEngine")
            backend = cls(spec, **kwargs)
        elif spec.backend == "u2net":
            backend = _import("easel.engines.backends.segment", "SegmentEngine")(spec, **kwargs)
        elif spec.kind == "edit":
            cls = _import("easel.engines.backends.edit", "EditEngine")
            backend = cls(spec, fast=self.fast, **kwargs)
        elif spec.kind == "relight":
            backend = _import("easel.engines.backends.relight", "build_relight_engine")(
                spec, fast=self.fast, **kwargs
            )
        elif spec.family == "latent-upscaler":
            cls = _import("easel.engines.backends.diffusers", "LatentUpscaleEngine")
            backend = cls(spec, **kwargs)
        elif spec.kind == "control":
            backend = _import("easel.engines.backends.control", "ControlEngine")(spec, **kwargs)
        elif spec.kind == "upscale":
            cls = _import("easel.engines.backends.diffusion_upscale", "DiffusionUpscaleEngine")
            backend = cls(spec, fast=self.fast, **kwargs)
        else:
            cls = _import("easel.engines.backends.diffusers", "DiffusersEngine")
            backend = cls(spec, fast=self.fast, **kwargs)
        return backend

    def _configure_torch(self) -> None:
        """The plan's process-wide torch flags, once, before the first torch backend."""
        with self._lock:
            if self._torch_configured:
                return
            from easel.engines.fastpath import configure_torch, device_facts, plan_fast_path

            facts = device_facts(self.device)
            configure_torch(plan_fast_path(self.fast, dtype=self.dtype, device=facts))
            self._torch_configured = True

    def _acquire(self, engine_id: str) -> None:
        """Mark `engine_id` in use and make sure its model is loaded, within the budget."""
        engine = self._engines[engine_id]
        with self._lock:
            self._in_use[engine_id] += 1
            if engine_id in self._loaded:
                self._loaded.move_to_end(engine_id)
        try:
            if not engine.backend.loaded:
                with self._lock:
                    # Make room for the size this model had last time, if known.
                    self._evict(keep=engine_id, incoming=self._last_size.get(engine_id, 0))
                try:
                    engine.backend.load()
                except OutOfMemory:
                    with self._lock:
                        self._evict(keep=engine_id, everything_idle=True)
                    engine.backend.load()
                self._measure(engine_id)
                self.after_load()
        except BaseException:
            self._release(engine_id, measure=False)
            raise

    def _release(self, engine_id: str, *, measure: bool = True) -> None:
        if measure:
            self._measure(engine_id)
        with self._lock:
            self._in_use[engine_id] -= 1
            if self._in_use[engine_id] <= 0:
                del self._in_use[engine_id]
            self._evict(keep=engine_id)

    def _measure(self, engine_id: str) -> None:
        backend = self._engines[engine_id].backend
        with self._lock:
            if backend.loaded:
                size = backend.memory_bytes()
                self._loaded[engine_id] = size
                self._loaded.move_to_end(engine_id)
                self._last_size[engine_id] = size
            else:
                self._loaded.pop(engine_id, None)
            self._evict(keep=engine_id)

    def _evict(self, *, keep: str, incoming: int = 0, everything_idle: bool = False) -> None:
        """Unload idle models other than `keep`, least recently used first, until the budget holds.

        `keep` is the engine being used right now: it stays loaded even when it
        alone exceeds the budget, so a big model is not reloaded on every call.
        """
        budget = self.memory_budget_bytes
        for engine_id in builtins.list(self._loaded):
            if not everything_idle and sum(self._loaded.values()) + incoming <= budget:
                return
            if engine_id == keep or self._in_use[engine_id] > 0:
                continue
            self.unload(engine_id)


def _check_spec(spec: EngineSpec) -> None:
    # Upscaler families only upscale; a generation family may also upscale
    # (a diffusion upscaler: resize, then tiled image-to-image).
    if spec.family in _UPSCALER_FAMILIES and spec.kind != "upscale":
        raise ValueError(
            f"engine {spec.id}: kind {spec.kind!r} does not fit family {spec.family!r}"
        )
    if spec.backend == "sandbox" and spec.model is not None and spec.model not in _TINY:
        raise ValueError(
            f"engine {spec.id}: a sandbox `model` names a tiny architecture, one of "
            f"{', '.join(_TINY)}; got {spec.model!r}"
        )
    for name in (spec.control_model, spec.adapter_model):
        if spec.backend == "sandbox" and name is not None and name not in _TINY:
            raise ValueError(
                f"engine {spec.id}: a sandbox control_model / adapter_model names a tiny "
                f"architecture, one of {', '.join(_TINY)}; got {name!r}"
            )
    if spec.backend == "lanczos" and spec.kind != "upscale":
        raise ValueError(f"engine {spec.id}: the lanczos backend serves upscale engines only")
    if spec.backend == "esrgan" and spec.family != "esrgan":
        raise ValueError(f"engine {spec.id}: the esrgan backend needs family 'esrgan'")
    if spec.backend == "diffusers" and spec.family in ("esrgan", "u2net"):
        raise ValueError(f"engine {spec.id}: {spec.family} weights need backend {spec.family!r}")
    _check_media_spec(spec)
    if (spec.family == "u2net") != (spec.kind == "segment"):
        raise ValueError(f"engine {spec.id}: kind 'segment' and family 'u2net' go together")
    if spec.backend == "u2net" and spec.family != "u2net":
        raise ValueError(f"engine {spec.id}: the u2net backend needs family 'u2net'")
    _check_relight_spec(spec)
    if spec.backend in ("diffusers", "esrgan", "depth-mesh", "u2net") and not spec.model:
        raise ValueError(f"engine {spec.id}: backend {spec.backend!r} needs `model`")


def _check_relight_spec(spec: EngineSpec) -> None:
    """A relight engine on real weights cuts the subject out with U²-Net (`mask_model`).

    (Every family but the SD ones, and every backend but sandbox and diffusers, is
    already refused for it by the checks above.)"""
    if spec.kind == "relight" and spec.backend == "diffusers" and not spec.mask_model:
        raise ValueError(
            f"engine {spec.id}: a relight engine needs `mask_model`, a U²-Net weights file"
        )


# Engine kinds that need their own family, and the backends that can run them.
_MEDIA_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "video": ("svd", ("sandbox", "diffusers")),
    "3d": ("mesh", ("sandbox", "depth-mesh")),
}


def _check_media_spec(spec: EngineSpec) -> None:
    """Video and 3D engines: their own family, and a backend that makes videos or meshes."""
    for kind, (family, backends) in _MEDIA_KINDS.items():
        if (spec.kind == kind) != (spec.family == family):
            raise ValueError(f"engine {spec.id}: kind {kind!r} goes with family {family!r}")
        if spec.kind == kind and spec.backend not in backends:
            raise ValueError(
                f"engine {spec.id}: a {kind} engine runs on backend {' or '.join(backends)}"
            )
    if spec.backend == "depth-mesh" and spec.kind != "3d":
        raise ValueError(f"engine {spec.id}: the depth-mesh backend serves 3d engines only")


def _import(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _resolve_dtype(requested: str, device: str) -> str:
    if requested != "auto":
        return requested
    return "float16" if device.startswith("cuda") else "float32"


def _default_budget(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        return int(torch.cuda.get_device_properties(index).total_memory * 0.85)
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 16 * 1024**3
    return int(ram // 2)
