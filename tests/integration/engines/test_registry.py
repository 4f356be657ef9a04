"""EngineRegistry: specs, lazy construction, device choice, LRU eviction within a budget."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from easel.engines.base import EngineSpec
from easel.engines.catalog import default_engines
from easel.engines.registry import EngineRegistry
from easel.errors import NotFound
from tests.integration.engines.conftest import SD_ENGINE, SDXL_ENGINE, make_request


def _spec(engine_id: str, **fields: object) -> EngineSpec:
    return EngineSpec.model_validate(
        {"id": engine_id, "name": engine_id, "family": "sd1", **fields}
    )


def test_list_gives_enabled_engines_in_config_order(tmp_path: Path) -> None:
    specs = [_spec("b"), _spec("a", enabled=False), _spec("c")]
    registry = EngineRegistry(specs, data_dir=tmp_path)
    assert [s.id for s in registry.list()] == ["b", "c"]
    assert registry.spec("c").id == "c"


@pytest.mark.parametrize("engine_id", ["nope", "a"])
def test_unknown_or_disabled_engine_is_not_found(tmp_path: Path, engine_id: str) -> None:
    registry = EngineRegistry([_spec("a", enabled=False)], data_dir=tmp_path)
    message = f"The specified engine (ID {engine_id}) was not found."
    with pytest.raises(NotFound, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.spec(engine_id)
    with pytest.raises(NotFound) as info:
        registry.get(engine_id)
    assert info.value.status == 404 and info.value.message == message


def test_get_builds_one_engine_lazily_across_threads(tmp_path: Path) -> None:
    registry = EngineRegistry(default_engines(), data_dir=tmp_path, device="cpu")
    engines = []
    threads = [
        threading.Thread(target=lambda: engines.append(registry.get(SD_ENGINE))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in engines}) == 1
    assert engines[0].spec.id == SD_ENGINE
    assert registry.loaded_engine_ids() == []  # nothing loads before the first generate
    assert not (tmp_path / "sandbox").exists()


def test_default_engines_build_without_loading(tmp_path: Path) -> None:
    registry = EngineRegistry(default_engines(), data_dir=tmp_path, device="cpu")
    for spec in registry.list():
        assert registry.get(spec.id).spec == spec


@pytest.mark.parametrize(
    "fields",
    [
        {"backend": "diffusers"},  # no model
        {"backend": "esrgan", "model": "x.pth"},  # esrgan backend on an SD family
        {"backend": "lanczos"},  # lanczos only upscales
        {"family": "esrgan"},  # an upscaler family cannot generate
        {"family": "latent-upscaler", "kind": "inpaint"},
        {"family": "esrgan", "kind": "upscale", "backend": "diffusers", "model": "x"},
        {"model": "no-such-tiny-model"},  # a sandbox model names a tiny architecture
    ],
)
def test_inconsistent_specs_are_refused(tmp_path: Path, fields: dict) -> None:
    with pytest.raises(ValueError):
        EngineRegistry([_spec("x", **fields)], data_dir=tmp_path)


def test_a_generation_family_may_upscale_by_diffusion(tmp_path: Path) -> None:
    from easel.engines.backends.diffusion_upscale import DiffusionUpscaleEngine

    registry = EngineRegistry(
        [_spec("up", family="sdxl", kind="upscale"), _spec("sd3", family="sd3")],
        data_dir=tmp_path,
        device="cpu",
    )
    assert isinstance(registry.get("up").backend, DiffusionUpscaleEngine)  # type: ignore[attr-defined]
    assert registry.get("sd3").spec.family == "sd3"


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="twice"):
        EngineRegistry([_spec("x"), _spec("x")], data_dir=tmp_path)


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dtype"):
        EngineRegistry([], data_dir=tmp_path, dtype="float8")
    with pytest.raises(ValueError, match="memory_budget_mb"):
        EngineRegistry([], data_dir=tmp_path, memory_budget_mb=-1)


def test_auto_device_and_dtype(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    cpu = EngineRegistry([], data_dir=tmp_path)
    assert (cpu.device, cpu.dtype) == ("cpu", "float32")
    assert cpu.memory_budget_bytes > 0

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    mps = EngineRegistry([], data_dir=tmp_path)
    assert (mps.device, mps.dtype) == ("mps", "float32")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cuda = EngineRegistry([], data_dir=tmp_path)
    assert (cuda.device, cuda.dtype) == ("cuda", "float16")

    explicit = EngineRegistry([], data_dir=tmp_path, device="cpu", dtype="bfloat16")
    assert (explicit.device, explicit.dtype) == ("cpu", "bfloat16")


def test_least_recently_used_model_is_evicted(data_dir: Path, tiny_models: Path) -> None:
    registry = EngineRegistry(
        default_engines(), data_dir=data_dir, device="cpu", memory_budget_mb=12
    )
    sd, sdxl = registry.get(SD_ENGINE), registry.get(SDXL_ENGINE)
    sd.generate([make_request(steps=1)])
    assert registry.loaded_engine_ids() == [SD_ENGINE]
    sd_bytes = registry.memory_used_bytes()
    assert 1_000_000 < sd_bytes < 12 * 1024 * 1024  # the tiny SD model, float32

    sdxl.generate([make_request(steps=1)])  # both do not fit in 12 MB
    assert registry.loaded_engine_ids() == [SDXL_ENGINE]
    assert not sd.loaded and sdxl.loaded  # type: ignore[attr-defined]

    sd.generate([make_request(steps=1)])  # reloads on demand, evicting SDXL
    assert registry.loaded_engine_ids() == [SD_ENGINE]
    assert registry.memory_used_bytes() == sd_bytes


def test_after_load_runs_once_per_model_load_not_per_call(
    data_dir: Path, tiny_models: Path
) -> None:
    registry = EngineRegistry(
        default_engines(), data_dir=data_dir, device="cpu", memory_budget_mb=12
    )
    loads: list[list[str]] = []
    registry.after_load = lambda: loads.append(registry.loaded_engine_ids())
    sd, sdxl = registry.get(SD_ENGINE), registry.get(SDXL_ENGINE)
    sd.generate([make_request(steps=1)])
    sd.generate([make_request(steps=1)])  # already loaded
    sdxl.generate([make_request(steps=1)])  # evicts SD
    assert loads == [[SD_ENGINE], [SDXL_ENGINE]]  # after each load (and its evictions)


def test_models_stay_loaded_within_the_budget(data_dir: Path, tiny_models: Path) -> None:
    registry = EngineRegistry(
        default_engines(), data_dir=data_dir, device="cpu", memory_budget_mb=1024
    )
    sd, sdxl = registry.get(SD_ENGINE), registry.get(SDXL_ENGINE)
    sd.generate([make_request(steps=1)])
    sdxl.generate([make_request(steps=1)])
    assert registry.loaded_engine_ids() == [SD_ENGINE, SDXL_ENGINE]
    sd.generate([make_request(steps=1)])
    assert registry.loaded_engine_ids() == [SDXL_ENGINE, SD_ENGINE]  # LRU first
    registry.unload_all()
    assert registry.loaded_engine_ids() == [] and registry.memory_used_bytes() == 0


def test_masking_grows_the_measured_size(data_dir: Path, tiny_models: Path) -> None:
    from tests.integration.engines.conftest import noise_image

    registry = EngineRegistry(default_engines(), data_dir=data_dir, device="cpu")
    sd = registry.get(SD_ENGINE)
    sd.generate([make_request(steps=1)])
    before = registry.memory_used_bytes()
    mask = noise_image().convert("L")
    sd.generate([make_request("masking", steps=1, init_image=noise_image(), mask=mask)])
    assert registry.memory_used_bytes() > before  # the sandbox inpainting model loaded too


def test_a_model_in_use_is_not_evicted(data_dir: Path, tiny_models: Path) -> None:
    registry = EngineRegistry(
        default_engines(), data_dir=data_dir, device="cpu", memory_budget_mb=1
    )
    sd, sdxl = registry.get(SD_ENGINE), registry.get(SDXL_ENGINE)
    in_step, proceed = threading.Event(), threading.Event()

    def hold(step: int, total: int) -> None:
        in_step.set()
        assert proceed.wait(30)

    worker = threading.Thread(target=lambda: sd.generate([make_request(steps=2)], progress=hold))
    worker.start()
    try:
        assert in_step.wait(60)
        sdxl.generate([make_request(steps=1)])  # over budget, but SD is busy
        assert sd.loaded  # type: ignore[attr-defined]
        assert set(registry.loaded_engine_ids()) == {SD_ENGINE, SDXL_ENGINE}
    finally:
        proceed.set()
        worker.join(60)
    # SD finished last, so it stays; the idle SDXL makes room.
    assert registry.loaded_engine_ids() == [SD_ENGINE]


def test_a_model_larger_than_the_budget_stays_loaded_between_calls(
    data_dir: Path, tiny_models: Path
) -> None:
    registry = EngineRegistry(
        default_engines(), data_dir=data_dir, device="cpu", memory_budget_mb=1
    )
    sd = registry.get(SD_ENGINE)
    sd.generate([make_request(steps=1)])
    backend = sd.backend  # type: ignore[attr-defined]
    pipes = dict(backend._pipes)
    sd.generate([make_request(steps=1)])
    assert registry.loaded_engine_ids() == [SD_ENGINE]
    assert backend._pipes == pipes  # not reloaded


def test_sandbox_models_can_live_in_a_shared_directory(tmp_path: Path, tiny_models: Path) -> None:
    registry = EngineRegistry(
        default_engines(), data_dir=tmp_path, device="cpu", models_dir=tiny_models
    )
    assert registry.get(SD_ENGINE).generate([make_request(steps=1)])[0].images
    assert not (tmp_path / "sandbox").exists()
