"""The fast path on the tiny models, on CPU: what each switch does to the pipeline.

CUDA is not needed for the switches themselves: channels_last, fused QKV
projections, a VAE in another dtype and fast loading all run on CPU when
switched on explicitly. Compilation runs with dynamo's counting backend
(Inductor takes minutes on CPU), which exercises the compile, bucket and
warm-up code without generating kernels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch._dynamo.testing import CompileCounter

from easel.engines.backends.sandbox import SandboxEngine
from easel.engines.base import EngineSpec
from easel.engines.catalog import default_engines
from easel.engines.fastpath import (
    DeviceFacts,
    FastPathSettings,
    FastPlan,
    apply_fast_path,
    configure_torch,
    plan_fast_path,
)
from easel.engines.registry import EngineRegistry
from tests.integration.engines.conftest import (
    RELIGHT_ENGINE,
    SD_ENGINE,
    SDXL_ENGINE,
    make_request,
    max_diff,
    noise_image,
    png,
)

# channels_last, fused QKV and a bfloat16 VAE change rounding, not the image:
# measured at most 4 grey levels from the plain float32 run on the tiny models.
ROUNDING = 12
EVERY_CPU_SWITCH = FastPathSettings(
    channels_last=True, fuse_qkv=True, vae_dtype="bfloat16", fast_load=True
)


def _spec(engine_id: str) -> EngineSpec:
    return next(spec for spec in default_engines() if spec.id == engine_id)


def _engine(engine_id: str, tiny_models: Path, fast: FastPathSettings, **kw: str) -> SandboxEngine:
    return SandboxEngine(_spec(engine_id), models_dir=tiny_models, fast=fast, **kw)


def _mask() -> object:
    from PIL import Image

    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask


def test_cpu_defaults_leave_the_pipeline_as_diffusers_loads_it(tiny_models: Path) -> None:
    engine = _engine(SD_ENGINE, tiny_models, FastPathSettings())
    engine.load()
    pipe = engine._pipes["text-to-image"]
    assert engine.plan.summary()["compile"] == "off"
    assert not pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    processors = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
    assert "FusedAttnProcessor2_0" not in processors
    assert pipe.vae.dtype == torch.float32
    assert getattr(pipe.unet, "_compiled_call_impl", None) is None


@pytest.mark.parametrize("engine_id", [SD_ENGINE, SDXL_ENGINE])
def test_cpu_switches_apply_and_stay_reproducible(engine_id: str, tiny_models: Path) -> None:
    plain = _engine(engine_id, tiny_models, FastPathSettings())
    fast = _engine(engine_id, tiny_models, EVERY_CPU_SWITCH)
    fast.load()
    pipe = fast._pipes["text-to-image"]
    assert pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert pipe.vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    processors = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
    assert processors == {"FusedAttnProcessor2_0"}
    assert pipe.vae.dtype == torch.bfloat16 and pipe.unet.dtype == torch.float32
    assert fast._pipes["image-to-image"].vae is pipe.vae  # from_pipe shares the switches

    request = make_request(seeds=[42])
    first = fast.generate([request])[0].images[0].image
    again = fast.generate([request])[0].images[0].image
    assert png(first) == png(again)
    assert max_diff(first, plain.generate([request])[0].images[0].image) <= ROUNDING

    # image-to-image and masking go through the VAE's encoder (latents back in float32)
    init = noise_image(64, seed=3)
    for kind, extra in (("image-to-image", {}), ("masking", {"mask": _mask()})):
        req = make_request(kind, seeds=[7], init_image=init, **extra)
        a, b = (fast.generate([req])[0].images[0].image for _ in range(2))
        assert png(a) == png(b), kind
        assert max_diff(a, plain.generate([req])[0].images[0].image) <= ROUNDING, kind


@pytest.mark.parametrize("force_upcast", [True, False])
def test_auto_vae_dtype_follows_force_upcast(tiny_models: Path, force_upcast: bool) -> None:
    """SDXL's VAE asks for upcasting (it overflows in float16): it alone gets the VAE dtype,
    and diffusers' per-call float32 round trip (force_upcast) is switched off for it."""
    import diffusers

    pipe = diffusers.AutoPipelineForText2Image.from_pretrained(str(tiny_models / "sdxl"))
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.register_to_config(force_upcast=force_upcast)
    # The plan float16 weights get on a GPU with bfloat16; applied here to float32 weights.
    plan = plan_fast_path(
        FastPathSettings(), dtype="float16", device=DeviceFacts(kind="cuda", bf16=True)
    )
    plan = dataclasses.replace(plan, channels_last=False, fuse_qkv=False, compile_mode=None)
    apply_fast_path(pipe, plan, "float32")
    expected = torch.bfloat16 if force_upcast else torch.float32
    assert pipe.vae.dtype == expected
    assert pipe.vae.config.force_upcast is False  # switched off where the VAE dtype applied
    img2img = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
    generator = torch.Generator().manual_seed(1)
    out = img2img(
        "a cat", image=noise_image(64), strength=0.5, num_inference_steps=2, generator=generator
    ).images[0]
    assert out.size == (64, 64) and pipe.vae.dtype == expected  # not converted back and forth


def test_bfloat16_weights_generate_reproducibly(tiny_models: Path) -> None:
    engine = _engine(SD_ENGINE, tiny_models, FastPathSettings(), dtype="bfloat16")
    request = make_request(seeds=[5])
    first, second = (engine.generate([request])[0].images[0].image for _ in range(2))
    assert engine._pipes["text-to-image"].unet.dtype == torch.bfloat16
    assert png(first) == png(second)


def test_fast_loading_gives_the_same_bytes(tiny_models: Path) -> None:
    request = make_request(seeds=[9])
    plain = _engine(SD_ENGINE, tiny_models, FastPathSettings())
    direct = _engine(SD_ENGINE, tiny_models, FastPathSettings(fast_load=True))
    assert direct.plan.fast_load
    assert png(plain.generate([request])[0].images[0].image) == png(
        direct.generate([request])[0].images[0].image
    )


def test_compiled_unet_is_warmed_at_load_and_reused(tiny_models: Path) -> None:
    settings = FastPathSettings(compile="default", warm_sizes=["64x64"], warm_batches=[1])
    engine = _engine(SD_ENGINE, tiny_models, settings)
    counter = CompileCounter()  # counts compiled frames, runs them eagerly
    engine._fast_plan = dataclasses.replace(engine.plan, compile_backend=counter)
    engine.load()  # compiles the (1, 64x64) bucket
    warmed = counter.frame_count
    assert warmed >= 1

    request = make_request(seeds=[3], size=64)
    first, second = (engine.generate([request])[0].images[0].image for _ in range(2))
    assert counter.frame_count == warmed  # the warmed bucket: no new compile
    assert png(first) == png(second)


@pytest.mark.parametrize("backend", ["sandbox", "diffusers"])
def test_registry_hands_its_settings_to_the_diffusers_engines(tmp_path: Path, backend: str) -> None:
    fast = FastPathSettings(channels_last=True)
    # real weights (never loaded here) or the sandbox's tiny ones
    real = {
        SD_ENGINE: {"model": "org/weights"},
        RELIGHT_ENGINE: {"model": "org/inpainting", "mask_model": "u2net.pth"},
    }
    specs = [
        spec.model_copy(
            update={"backend": backend, **(real[spec.id] if backend == "diffusers" else {})}
        )
        for spec in default_engines()
        if spec.id in real
    ]
    registry = EngineRegistry(specs, data_dir=tmp_path, device="cpu", fast=fast)
    generate = registry.get(SD_ENGINE).backend  # type: ignore[attr-defined]
    painter = registry.get(RELIGHT_ENGINE).backend.painter  # type: ignore[attr-defined]
    for engine in (generate, painter):
        assert engine.fast is fast and engine.plan.channels_last


def test_configure_torch_sets_cudnn_only_for_cuda_plans(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "deterministic", False)
    monkeypatch.setattr(cudnn, "benchmark", False)
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 8)
    cpu = FastPlan(
        cuda=False,
        vae_dtype=None,
        vae_dtype_if_upcast=False,
        channels_last=False,
        fuse_qkv=False,
        compile_mode=None,
        warm_sizes=(),
        warm_batches=(),
        fast_load=False,
        deterministic=True,
        cudnn_benchmark=False,
    )
    configure_torch(cpu)
    assert cudnn.deterministic is False and torch._dynamo.config.recompile_limit == 8

    cuda = dataclasses.replace(
        cpu, cuda=True, compile_mode="reduce-overhead", compile_cache_dir=tmp_path / "cc"
    )
    configure_torch(cuda)
    assert cudnn.deterministic is True and cudnn.benchmark is False
    assert (tmp_path / "cc").is_dir()
    import os

    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cc")
    assert torch._dynamo.config.recompile_limit >= 64
    configure_torch(dataclasses.replace(cuda, deterministic=False, cudnn_benchmark=True))
    assert cudnn.deterministic is False and cudnn.benchmark is True
