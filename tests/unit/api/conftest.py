"""An in-process app with a controllable clock, and an httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from easel.api.app import EaselApp, create_app
from easel.api.services import Services
from easel.engines.registry import EngineRegistry
from easel.usage.service import RequestRecord
from tests.factories import TestAccount, make_account, make_settings
from tests.fakes import FakeEngine


def request_log(services: Services, *, limit: int = 100) -> list[RequestRecord]:
    """The app's request log, newest first (what it queued is written first)."""
    assert services.usage is not None
    return services.usage.recent(limit=limit)


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to change the app's settings."""
    return {}


class FakeEngines:
    """The engines jobs run on in API tests: a FakeEngine per engine id, made on first use."""

    def __init__(self) -> None:
        self.engines: dict[str, FakeEngine] = {}
        self.registry: EngineRegistry | None = None

    def get(self, engine_id: str) -> FakeEngine:
        if engine_id not in self.engines:
            assert self.registry is not None
            self.engines[engine_id] = FakeEngine(self.registry.spec(engine_id))
        return self.engines[engine_id]


@pytest.fixture
def engine_source() -> FakeEngines:
    return FakeEngines()


@pytest.fixture
async def app(
    tmp_path: Path,
    migrated_db_url: str,
    clock: FakeClock,
    settings_overrides: dict[str, object],
    engine_source: FakeEngines,
) -> AsyncIterator[EaselApp]:
    # The database is a copy of an already migrated template: no migration on start.
    overrides: dict[str, Any] = dict(settings_overrides)
    database = {"migrate_on_start": False, **overrides.pop("database", {})}
    settings = make_settings(tmp_path / "data", migrated_db_url, database=database, **overrides)
    app = create_app(settings, clock=clock, engine_source=engine_source)
    engine_source.registry = app.state.services.engines
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def services(app: EaselApp) -> Services:
    services: Services = app.state.services
    return services


@pytest.fixture
async def client(app: EaselApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://easel.test") as client:
        yield client


@pytest.fixture
def account(services: Services) -> TestAccount:
    return make_account(services.accounts, services.billing, credits=50)


@pytest.fixture
def fake_engines(engine_source: FakeEngines) -> dict[str, FakeEngine]:
    """The FakeEngine of each engine id the app's jobs ran on (created on first use)."""
    return engine_source.engines
