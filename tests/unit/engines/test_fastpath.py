"""[engine.fast]: parsing, and which fast-path switches apply on which device."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from easel.config import load_settings
from easel.engines.fastpath import DeviceFacts, FastPathSettings, plan_fast_path

CPU = DeviceFacts(kind="cpu")
H100 = DeviceFacts(kind="cuda", bf16=True, compiler=True)
T4 = DeviceFacts(kind="cuda", bf16=False, compiler=True)  # no bfloat16 tensor cores
NO_TRITON = DeviceFacts(kind="cuda", bf16=True, compiler=False)
MPS = DeviceFacts(kind="mps")


# --------------------------------------------------------------------------- settings


def test_defaults_are_auto_with_determinism_and_benchmarking_off() -> None:
    fast = load_settings().engine.fast
    assert (fast.vae_dtype, fast.channels_last, fast.fuse_qkv) == ("auto", "auto", "auto")
    assert (fast.compile, fast.fast_load) == ("auto", "auto")
    assert fast.warm_sizes == ["native"] and fast.warm_batches == [1]
    assert fast.deterministic is False and fast.cudnn_benchmark is False
    assert fast.compile_cache_dir is None


def test_toml_table_engine_fast(tmp_path: Path) -> None:
    config = tmp_path / "easel.toml"
    config.write_text(
        "[engine.fast]\n"
        'compile = "max-autotune"\n'
        "channels_last = false\n"
        "fuse_qkv = true\n"
        'warm_sizes = ["1024x1024", "native"]\n'
        "warm_batches = [1, 8]\n"
        "deterministic = true\n"
    )
    fast = load_settings(config).engine.fast
    assert fast.compile == "max-autotune"
    assert fast.channels_last is False and fast.fuse_qkv is True
    assert fast.warm_sizes == ["1024x1024", "native"] and fast.warm_batches == [1, 8]
    assert fast.deterministic is True


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EASEL_ENGINE__FAST__COMPILE", "off")
    monkeypatch.setenv("EASEL_ENGINE__FAST__CHANNELS_LAST", "true")
    monkeypatch.setenv("EASEL_ENGINE__FAST__VAE_DTYPE", "float32")
    monkeypatch.setenv("EASEL_ENGINE__FAST__WARM_SIZES", '["512x768"]')
    fast = load_settings().engine.fast
    assert fast.compile == "off" and fast.channels_last is True
    assert fast.vae_dtype == "float32" and fast.warm_sizes == ["512x768"]


@pytest.mark.parametrize(
    "fields",
    [
        {"compile": "fastest"},
        {"vae_dtype": "float8"},
        {"channels_last": "sometimes"},
        {"warm_sizes": ["1024"]},
        {"warm_sizes": ["1000x1001"]},  # not multiples of 8
        {"warm_sizes": ["0x512"]},
        {"warm_batches": [0]},
        {"turbo": True},
    ],
)
def test_bad_values_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FastPathSettings.model_validate(fields)


def test_compile_cache_lives_under_the_data_dir_unless_set(tmp_path: Path) -> None:
    settings = load_settings(server={"data_dir": tmp_path})
    assert settings.fast_path.compile_cache_dir == tmp_path / "compile-cache"
    assert settings.engine.fast.compile_cache_dir is None  # the settings themselves unchanged
    explicit = load_settings(
        server={"data_dir": tmp_path}, engine={"fast": {"compile_cache_dir": "/cache"}}
    )
    assert explicit.fast_path.compile_cache_dir == Path("/cache")


# --------------------------------------------------------------------------- the plan


def test_auto_is_off_on_cpu_and_mps() -> None:
    for device in (CPU, MPS):
        plan = plan_fast_path(FastPathSettings(), dtype="float32", device=device)
        assert not (plan.cuda or plan.channels_last or plan.fuse_qkv or plan.fast_load)
        assert plan.compile_mode is None and plan.vae_dtype is None
        assert plan.warm_buckets((512, 512)) == []
        assert plan.vae_dtype_for("float32", force_upcast=True) == "float32"


def test_auto_is_on_on_cuda() -> None:
    plan = plan_fast_path(FastPathSettings(), dtype="float16", device=H100)
    assert plan.cuda and plan.channels_last and plan.fuse_qkv and plan.fast_load
    assert plan.compile_mode == "reduce-overhead"
    assert plan.deterministic is False and plan.cudnn_benchmark is False


def test_auto_compile_needs_the_gpu_compiler() -> None:
    plan = plan_fast_path(FastPathSettings(), dtype="float16", device=NO_TRITON)
    assert plan.compile_mode is None and plan.channels_last


def test_explicit_switches_apply_on_cpu_too() -> None:
    settings = FastPathSettings(channels_last=True, fuse_qkv=True, compile="default")
    plan = plan_fast_path(settings, dtype="float32", device=CPU)
    assert plan.channels_last and plan.fuse_qkv and plan.compile_mode == "default"
    assert not plan.fast_load


def test_explicit_off_wins_on_cuda() -> None:
    settings = FastPathSettings(channels_last=False, fuse_qkv=False, compile="off", fast_load=False)
    plan = plan_fast_path(settings, dtype="float16", device=H100)
    assert not (plan.channels_last or plan.fuse_qkv or plan.fast_load)
    assert plan.compile_mode is None


@pytest.mark.parametrize(
    ("device", "weights", "force_upcast", "vae"),
    [
        (H100, "float16", True, "bfloat16"),  # SDXL's VAE: no float16 overflow
        (H100, "float16", False, "float16"),  # an fp16-safe VAE stays in float16
        (T4, "float16", True, "float32"),  # no bfloat16 on the GPU: float32
        (H100, "bfloat16", True, "bfloat16"),
        (H100, "float32", True, "float32"),
        (CPU, "float32", True, "float32"),
    ],
)
def test_auto_vae_dtype(device: DeviceFacts, weights: str, force_upcast: bool, vae: str) -> None:
    plan = plan_fast_path(FastPathSettings(), dtype=weights, device=device)
    assert plan.vae_dtype_for(weights, force_upcast=force_upcast) == vae


def test_explicit_vae_dtype_applies_to_every_vae() -> None:
    plan = plan_fast_path(FastPathSettings(vae_dtype="float32"), dtype="float16", device=H100)
    assert plan.vae_dtype_for("float16", force_upcast=False) == "float32"
    assert plan.vae_dtype_for("float16", force_upcast=True) == "float32"


def test_determinism_rules_out_cudnn_benchmarking() -> None:
    settings = FastPathSettings(deterministic=True, cudnn_benchmark=True)
    plan = plan_fast_path(settings, dtype="float16", device=H100)
    assert plan.deterministic and not plan.cudnn_benchmark
    plan = plan_fast_path(FastPathSettings(cudnn_benchmark=True), dtype="float16", device=H100)
    assert plan.cudnn_benchmark


def test_warm_buckets_cross_sizes_and_batches_once_each() -> None:
    settings = FastPathSettings(
        warm_sizes=["native", "832x1216", "1024x1024", "native"], warm_batches=[1, 4, 1]
    )
    plan = plan_fast_path(settings, dtype="float16", device=H100)
    assert plan.warm_buckets((1024, 1024)) == [
        (1, 1024, 1024),
        (4, 1024, 1024),
        (1, 832, 1216),
        (4, 832, 1216),
    ]
    assert plan.warm_buckets((512, 512))[:2] == [(1, 512, 512), (4, 512, 512)]


def test_no_warm_up_without_compile() -> None:
    settings = FastPathSettings(compile="off", warm_sizes=["512x512"], warm_batches=[1, 8])
    assert plan_fast_path(settings, dtype="float16", device=H100).warm_buckets((512, 512)) == []


def test_summary_names_every_switch() -> None:
    plan = plan_fast_path(FastPathSettings(), dtype="float16", device=H100)
    summary = plan.summary()
    assert summary["compile"] == "reduce-overhead" and summary["warm_sizes"] == ["native"]
    assert set(summary) >= {"channels_last", "fuse_qkv", "vae_dtype", "fast_load"}
