"""`[engine] preload`: models load at start in the background; /readyz waits for them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from easel.api.app import create_app
from easel.engines.base import EngineSpec
from easel.engines.registry import EngineRegistry
from tests.factories import make_settings


class GatedBackend:
    """A backend whose load waits for `gate` (or fails when told to)."""

    def __init__(self, spec: EngineSpec, gate: threading.Event, fail: bool = False) -> None:
        self.spec = spec
        self.gate = gate
        self.fail = fail
        self.loaded = False
        self.loads = 0

    def load(self) -> None:
        self.loads += 1
        assert self.gate.wait(30)
        if self.fail:
            raise OSError("no such file: model.safetensors")
        self.loaded = True

    def unload(self) -> None:
        self.loaded = False

    def memory_bytes(self) -> int:
        return 1024

    def generate(self, requests: Any, **kwargs: Any) -> list[Any]:
        return []


def gated(registry: EngineRegistry, monkeypatch: pytest.MonkeyPatch, **kwargs: Any):
    gate = threading.Event()
    backends: dict[str, GatedBackend] = {}

    def build(spec: EngineSpec) -> GatedBackend:
        backends[spec.id] = GatedBackend(spec, gate, fail=spec.id in kwargs.get("failing", ()))
        return backends[spec.id]

    monkeypatch.setattr(registry, "_build", build)
    return gate, backends


def specs(*ids: str) -> list[EngineSpec]:
    return [EngineSpec.model_validate({"id": i, "name": i, "family": "sd1"}) for i in ids]


def test_preload_loads_the_models_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = EngineRegistry(specs("a", "b", "c"), data_dir=tmp_path, memory_budget_mb=100)
    gate, backends = gated(registry, monkeypatch)
    gate.set()

    registry.preload(["c", "a"])

    assert registry.loaded_engine_ids() == ["c", "a"]
    assert backends["a"].loads == backends["c"].loads == 1 and "b" not in backends


def test_background_preload_reports_not_ready_until_loaded_and_then_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = EngineRegistry(specs("a", "b"), data_dir=tmp_path, memory_budget_mb=100)
    gate, _ = gated(registry, monkeypatch, failing=("b",))

    thread = registry.preload_in_background(["a", "b"])
    assert registry.not_ready() == "loading engines: a, b"
    gate.set()
    assert thread is not None
    thread.join(30)

    assert registry.loaded_engine_ids() == ["a"]
    assert registry.not_ready() == (
        "engines failed to load: b: OSError: no such file: model.safetensors"
    )


def test_unknown_preload_ids_fail_at_once(tmp_path: Path) -> None:
    registry = EngineRegistry(specs("a"), data_dir=tmp_path)

    with pytest.raises(ValueError, match="unknown engine ids nope"):
        registry.preload_in_background(["a", "nope"])
    assert registry.preload_in_background([]) is None
    assert registry.not_ready() is None


async def test_readyz_is_503_until_the_preloaded_engines_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'easel.db'}",
        engine={"preload": ["stable-diffusion-v1-6"]},
    )
    app = create_app(settings)
    registry: EngineRegistry = app.state.services.engines
    gate, backends = gated(registry, monkeypatch)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://easel.test") as client,
    ):
        loading = await client.get("/readyz")
        gate.set()
        while registry.not_ready() is not None:
            await _yield()
        ready = await client.get("/readyz")

    assert loading.status_code == 503
    assert loading.json()["message"] == "loading engines: stable-diffusion-v1-6"
    assert ready.status_code == 200
    assert backends["stable-diffusion-v1-6"].loads == 1


async def _yield() -> None:
    import anyio

    await anyio.sleep(0.01)
