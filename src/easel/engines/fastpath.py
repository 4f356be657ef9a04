"""The CUDA fast path of the diffusers backend: settings, a plan per device, and applying it.

`FastPathSettings` is the ``[engine.fast]`` table. `plan_fast_path` turns it,
with the weights' dtype and the facts of the device (`DeviceFacts`), into a
`FastPlan`: which switches apply. It is a pure function, so which switch
applies where is tested directly. `apply_fast_path` applies a plan to a
loaded pipeline; `configure_torch` sets the process-wide torch flags.

"auto" turns a switch on on CUDA and off everywhere else, so the CPU sandbox
keeps running plain eager float32 code. Each switch, and what it costs in
exactness (a run with the same seed and the same settings repeats its bytes
either way; the trade-off is against a run with the switch off):

- weights in float16/bfloat16 (``[engine] dtype``, auto = float16 on CUDA):
  half the memory traffic and tensor cores; outputs differ from float32 by
  rounding, a few grey levels.
- ``vae_dtype``: the VAE's own dtype. auto keeps the weights' dtype, except
  that float16 weights get a bfloat16 VAE (float32 where the GPU has no
  bfloat16) when the VAE's config says it overflows in float16
  (``force_upcast``, e.g. SDXL's VAE, which decodes to NaN/black in float16).
  diffusers would otherwise convert the VAE to float32 and back on every call.
- ``channels_last``: UNet and VAE weights in NHWC, the layout cuDNN's fast
  convolution kernels use (the issue measured 25 % of GPU time in layout
  conversions without it). Different kernels: rounding-level differences.
- ``fuse_qkv``: one matmul for attention's query/key/value (diffusers'
  `fuse_qkv_projections`). Mathematically equal; rounding-level differences.
- ``compile``: `torch.compile` of the UNet with static shapes (one compiled
  graph per (batch, size) bucket), warmed at load for ``warm_sizes`` x
  ``warm_batches``. Other buckets compile on first use. auto is
  "reduce-overhead" on CUDA (Inductor kernels plus CUDA graphs: the launch
  overhead the issue measured is most of a step at batch 1); "max-autotune"
  also benchmarks kernel choices (a much longer first compile).
  Compiled kernels cache under ``compile_cache_dir`` (TORCHINDUCTOR_CACHE_DIR),
  so a restart compiles from the cache. Fused kernels round differently from
  eager ones; max-autotune picks kernels by timing, so a cold cache on another
  machine may pick others (bytes can differ there, not run to run).
- ``fast_load``: safetensors read straight onto the GPU (``device_map``)
  instead of into CPU memory first. Exact.
- ``deterministic``: cuDNN's deterministic mode. Off by default: cuDNN's
  forward convolutions with the default (heuristic) algorithm choice already
  repeat their results; the flag only rules out faster algorithms.
- ``cudnn_benchmark``: cuDNN times several algorithms per shape and keeps
  the fastest. Off by default: the choice can differ after a restart, and so
  can the last bits of an image.

This module imports no torch at import time (config reads the settings).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DeviceFacts",
    "FastPathSettings",
    "FastPlan",
    "apply_fast_path",
    "configure_torch",
    "device_facts",
    "plan_fast_path",
]

log = logging.getLogger("easel.engines")

CompileMode = Literal[
    "auto", "off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
]
Dtype = Literal["auto", "float16", "bfloat16", "float32"]
_SIZE = re.compile(r"^(native|[1-9][0-9]*x[1-9][0-9]*)$")
# Enough compiled graphs for every warmed bucket plus the ones met later (torch's default: 8).
_RECOMPILE_LIMIT = 64


class FastPathSettings(BaseModel):
    """``[engine.fast]``: the diffusers backend's CUDA fast path, each part switchable."""

    model_config = ConfigDict(extra="forbid")

    vae_dtype: Dtype = Field(
        default="auto",
        description="The VAE's dtype: auto keeps the weights' dtype, but a VAE that overflows "
        "in float16 (config force_upcast, e.g. SDXL's) runs in bfloat16 (float32 without GPU "
        "bfloat16) when the weights are float16",
    )
    channels_last: Literal["auto"] | bool = Field(
        default="auto",
        description="UNet and VAE in channels_last memory layout (auto: on CUDA only)",
    )
    fuse_qkv: Literal["auto"] | bool = Field(
        default="auto",
        description="Fused attention query/key/value projections (auto: on CUDA only)",
    )
    compile: CompileMode = Field(
        default="auto",
        description="torch.compile mode of the UNet: off, default, reduce-overhead (CUDA "
        "graphs), max-autotune, max-autotune-no-cudagraphs (auto: reduce-overhead on CUDA, "
        "off elsewhere)",
    )
    warm_sizes: list[str] = Field(
        default_factory=lambda: ["native"],
        description="With compile on: sizes (WxH, or native: the model's own) compiled when "
        "a model loads; other sizes compile on first use (JSON list in the environment)",
    )
    warm_batches: list[int] = Field(
        default_factory=lambda: [1],
        description="With compile on: images per batch compiled for each warm size when a "
        "model loads (JSON list in the environment)",
    )
    fast_load: Literal["auto"] | bool = Field(
        default="auto",
        description="Read safetensors weights straight onto the device (auto: on CUDA only)",
    )
    deterministic: bool = Field(
        default=False,
        description="cuDNN deterministic mode (slower kernels; same seed already repeats "
        "without it unless cudnn_benchmark is on)",
    )
    cudnn_benchmark: bool = Field(
        default=False,
        description="Let cuDNN time convolution algorithms per shape (faster; the last bits "
        "of an image can change after a restart)",
    )
    compile_cache_dir: Path | None = Field(
        default=None,
        description="Where compiled kernels are cached (TORCHINDUCTOR_CACHE_DIR; default: "
        "<data_dir>/compile-cache)",
    )

    @field_validator("warm_sizes")
    @classmethod
    def _sizes(cls, sizes: list[str]) -> list[str]:
        for size in sizes:
            if not _SIZE.match(size):
                raise ValueError(f"a warm size is WIDTHxHEIGHT or native; got {size!r}")
            if size != "native" and any(int(side) % 8 for side in size.split("x")):
                raise ValueError(f"warm size sides are multiples of 8; got {size!r}")
        return sizes

    @field_validator("warm_batches")
    @classmethod
    def _batches(cls, batches: list[int]) -> list[int]:
        if any(batch < 1 for batch in batches):
            raise ValueError("warm batch sizes are at least 1")
        return batches


@dataclass(frozen=True)
class DeviceFacts:
    """What the plan needs to know about the device."""

    kind: str  # "cuda", "cpu", "mps", ...
    bf16: bool = False  # the GPU computes in bfloat16 (Ampere and later)
    compiler: bool = False  # torch.compile's GPU backend can run here (Triton, sm_70+)


@dataclass(frozen=True)
class FastPlan:
    """Which fast-path switches apply to a model on one device."""

    cuda: bool
    vae_dtype: str | None  # None: the weights' dtype
    vae_dtype_if_upcast: bool  # apply vae_dtype only to VAEs whose config has force_upcast
    channels_last: bool
    fuse_qkv: bool
    compile_mode: str | None  # None: eager
    warm_sizes: tuple[tuple[int, int] | None, ...]  # None: the model's native size
    warm_batches: tuple[int, ...]
    fast_load: bool
    deterministic: bool
    cudnn_benchmark: bool
    compile_cache_dir: Path | None = None
    # torch.compile backend; tests swap in a counting one (Inductor takes minutes on CPU)
    compile_backend: Any = "inductor"

    def vae_dtype_for(self, weights: str, *, force_upcast: bool) -> str:
        """The dtype the VAE runs in, for weights in `weights`."""
        if self.vae_dtype is None or (self.vae_dtype_if_upcast and not force_upcast):
            return weights
        return self.vae_dtype

    def warm_buckets(self, native: tuple[int, int]) -> list[tuple[int, int, int]]:
        """(batch, width, height) compiled at load, in order, once each; none without compile."""
        if self.compile_mode is None:
            return []
        buckets: list[tuple[int, int, int]] = []
        for size in self.warm_sizes:
            width, height = native if size is None else size
            for batch in self.warm_batches:
                if (batch, width, height) not in buckets:
                    buckets.append((batch, width, height))
        return buckets

    def summary(self) -> dict[str, object]:
        """The switches as plain values (for logs and benchmark reports)."""
        return {
            "vae_dtype": self.vae_dtype or "weights' dtype",
            "vae_dtype_only_if_force_upcast": self.vae_dtype_if_upcast,
            "channels_last": self.channels_last,
            "fuse_qkv": self.fuse_qkv,
            "compile": self.compile_mode or "off",
            "warm_sizes": ["native" if s is None else f"{s[0]}x{s[1]}" for s in self.warm_sizes],
            "warm_batches": list(self.warm_batches),
            "fast_load": self.fast_load,
            "deterministic": self.deterministic,
            "cudnn_benchmark": self.cudnn_benchmark,
        }


def plan_fast_path(settings: FastPathSettings, *, dtype: str, device: DeviceFacts) -> FastPlan:
    """The switches that apply to weights in `dtype` on `device`; "auto" means CUDA only."""
    cuda = device.kind == "cuda"

    def switch(value: Literal["auto"] | bool) -> bool:
        return cuda if value == "auto" else bool(value)

    if settings.vae_dtype != "auto":
        vae_dtype: str | None = settings.vae_dtype
        only_if_upcast = False
    elif dtype == "float16":
        vae_dtype = "bfloat16" if device.bf16 else "float32"
        only_if_upcast = True
    else:
        vae_dtype, only_if_upcast = None, False

    compile_mode: str | None
    if settings.compile == "auto":
        compile_mode = "reduce-overhead" if cuda and device.compiler else None
    else:
        compile_mode = None if settings.compile == "off" else settings.compile

    sizes: list[tuple[int, int] | None] = []
    for size in settings.warm_sizes:
        parsed = None if size == "native" else _parse_size(size)
        if parsed not in sizes:
            sizes.append(parsed)
    return FastPlan(
        cuda=cuda,
        vae_dtype=vae_dtype,
        vae_dtype_if_upcast=only_if_upcast,
        channels_last=switch(settings.channels_last),
        fuse_qkv=switch(settings.fuse_qkv),
        compile_mode=compile_mode,
        warm_sizes=tuple(sizes),
        warm_batches=tuple(dict.fromkeys(settings.warm_batches)),
        fast_load=switch(settings.fast_load),
        deterministic=settings.deterministic,
        cudnn_benchmark=settings.cudnn_benchmark and not settings.deterministic,
        compile_cache_dir=settings.compile_cache_dir,
    )


def _parse_size(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)


# --------------------------------------------------------------------------- torch side


def device_facts(device: str) -> DeviceFacts:
    """The facts of `device` the plan needs (imports torch)."""
    import torch

    kind = torch.device(device).type
    if kind != "cuda" or not torch.cuda.is_available():
        return DeviceFacts(kind=kind)
    index = torch.device(device).index
    major, _ = torch.cuda.get_device_capability(index)
    try:
        import triton  # noqa: F401

        has_triton = True
    except ImportError:
        has_triton = False
    return DeviceFacts(
        kind="cuda", bf16=torch.cuda.is_bf16_supported(), compiler=has_triton and major >= 7
    )


def configure_torch(plan: FastPlan) -> None:
    """Process-wide torch flags of the plan (cuDNN modes, compile cache and limits)."""
    import torch

    if plan.cuda:
        torch.backends.cudnn.deterministic = plan.deterministic
        torch.backends.cudnn.benchmark = plan.cudnn_benchmark
    if plan.compile_mode is not None:
        if plan.compile_cache_dir is not None:
            plan.compile_cache_dir.mkdir(parents=True, exist_ok=True)
            # An explicit TORCHINDUCTOR_CACHE_DIR in the environment wins.
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(plan.compile_cache_dir))
        dynamo = torch._dynamo.config
        dynamo.recompile_limit = max(dynamo.recompile_limit, _RECOMPILE_LIMIT)


def load_kwargs(plan: FastPlan, device: str) -> dict[str, Any]:
    """Extra `from_pretrained` arguments: weights straight onto `device` under fast_load.

    diffusers takes a device type ("cuda", the current device) as a pipeline
    device_map, not "cuda:1"; `loading_device` makes that the right one.
    """
    if not plan.fast_load:
        return {}
    import torch

    return {"device_map": torch.device(device).type, "low_cpu_mem_usage": True}


@contextlib.contextmanager
def loading_device(plan: FastPlan, device: str) -> Any:
    """Makes `device` the current CUDA device while a fast_load pipeline loads."""
    import torch

    index = torch.device(device).index
    if plan.fast_load and plan.cuda and index is not None:
        with torch.cuda.device(index):
            yield
    else:
        yield


def apply_fast_path(pipe: Any, plan: FastPlan, weights_dtype: str) -> None:
    """Apply the plan's per-model switches to a loaded UNet pipeline, in place.

    Pipelines made from it with `from_pipe` share its modules, so they share the
    switches too. Call once per loaded set of modules.
    """
    import torch

    from easel.engines.backends._common import torch_dtype

    unet, vae = pipe.components.get("unet"), pipe.components.get("vae")
    if plan.fuse_qkv:
        _fuse_qkv(unet, vae)
    if vae is not None:
        vae_dtype = plan.vae_dtype_for(
            weights_dtype, force_upcast=bool(getattr(vae.config, "force_upcast", False))
        )
        if vae_dtype != weights_dtype:
            _set_vae_dtype(vae, torch_dtype(vae_dtype), torch_dtype(weights_dtype))
    if plan.channels_last:
        for module in (unet, vae):
            if module is not None:
                module.to(memory_format=torch.channels_last)
    if plan.compile_mode is not None and unet is not None:
        # In place (nn.Module.compile): the pipeline keeps its UNet object and type, so
        # from_pipe and config access work as before. Static shapes: one graph per bucket.
        options: dict[str, Any] = {"dynamic": False, "backend": plan.compile_backend}
        if plan.compile_backend == "inductor":
            options["mode"] = plan.compile_mode
        unet.compile(**options)


def _fuse_qkv(unet: Any, vae: Any) -> None:
    for name, module in (("UNet", unet), ("VAE", vae)):
        fuse = getattr(module, "fuse_qkv_projections", None)
        if fuse is None:
            continue
        try:
            fuse()
        except ValueError as exc:  # e.g. added KV projections: diffusers cannot fuse them
            log.info("fused QKV projections not applied to the %s: %s", name, exc)


def _set_vae_dtype(vae: Any, dtype: Any, compute: Any) -> None:
    """Run the VAE in `dtype` while the rest of the pipeline works in `compute`.

    The pipelines hand the VAE latents/images in their own dtype and, for
    force_upcast VAEs, convert the VAE to float32 and back around each call;
    turning force_upcast off stops that, and hooks convert at the VAE's edges:
    inputs to the VAE's dtype, encoded latents back to the pipeline's.
    """
    import torch

    # nn.Module's own `to`: diffusers' override warns about casting after loading,
    # which is what this is meant to do.
    torch.nn.Module.to(vae, dtype=dtype)
    if getattr(vae.config, "force_upcast", False):
        vae.register_to_config(force_upcast=False)

    def to_vae(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_cast(a, dtype) for a in args)

    def to_pipeline(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        return _cast(output, compute)

    for name in ("encoder", "quant_conv", "post_quant_conv", "decoder"):
        module = getattr(vae, name, None)
        if module is not None:
            module.register_forward_pre_hook(to_vae)
    last = vae.quant_conv if getattr(vae, "quant_conv", None) is not None else vae.encoder
    last.register_forward_hook(to_pipeline)


def _cast(value: Any, dtype: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value
