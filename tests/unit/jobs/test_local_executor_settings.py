"""Choosing the executor and the worker devices from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from easel.config import Settings
from easel.jobs.executors.inprocess import InProcessExecutor
from easel.wiring import build_celery_worker, build_core, worker_devices
from tests.factories import make_settings
from tests.unit.api.conftest import FakeEngines


def test_local_worker_processes_are_the_default() -> None:
    assert Settings().jobs.executor == "local"


def test_named_devices_get_one_worker_each_times_processes_per_device() -> None:
    settings = Settings(jobs={"devices": ["cuda:0", "cuda:1"], "processes_per_device": 2})
    assert worker_devices(settings) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]


def test_without_named_devices_the_engine_device_is_used() -> None:
    assert worker_devices(Settings(engine={"device": "cuda:3"})) == ["cuda:3"]


def test_in_memory_sqlite_is_refused_for_worker_processes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", jobs={"executor": "local"})
    with pytest.raises(ValueError, match="in-memory SQLite"):
        build_core(settings)


def test_fake_engines_need_the_in_process_executor(tmp_path: Path) -> None:
    local = make_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", jobs={"executor": "local"})
    with pytest.raises(ValueError, match="inprocess"):
        build_core(local, engine_source=FakeEngines())
    inprocess = make_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    core = build_core(inprocess, engine_source=FakeEngines())
    assert isinstance(core.executor, InProcessExecutor) and core.workers is None
    core.db.dispose()


def test_an_easel_worker_runs_injected_engines_in_its_own_process(tmp_path: Path) -> None:
    # what bench/scaling.py and the RabbitMQ test run: `easel worker` on a fake engine
    settings = make_settings(
        tmp_path, "postgresql+psycopg://postgres@127.0.0.1:5432/test", jobs={"executor": "celery"}
    )
    worker = build_celery_worker(settings, engine_source=FakeEngines())
    assert type(worker).__name__ == "CeleryWorker"  # built, nothing connected yet
