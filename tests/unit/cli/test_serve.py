"""`easel serve` keeps the collector off what lives as long as its process: the app at
start, and with the in-process executor each model it loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from easel.api.app import EaselApp
from easel.cli import server
from easel.cli.main import app as cli


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[EaselApp]:
    """The apps `easel serve` would run; nothing listens and nothing is frozen."""
    apps: list[EaselApp] = []
    real_config = uvicorn.Config

    def config(app: EaselApp, **kwargs: Any) -> uvicorn.Config:
        apps.append(app)
        return real_config(app, **kwargs)

    monkeypatch.setattr(uvicorn, "Config", config)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    monkeypatch.setattr(server, "freeze_long_lived", freeze_nothing)
    return apps


def freeze_nothing() -> None:
    """Stands in for `freeze_long_lived`: the test process's heap is not a server's."""


@pytest.mark.parametrize(("executor", "freezes"), [("inprocess", True), ("local", False)])
def test_models_loaded_in_the_api_process_are_frozen_after_loading(
    served: list[EaselApp], tmp_path: Path, executor: str, freezes: bool
) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve", "--data-dir", str(tmp_path)],
        env={"EASEL_JOBS__EXECUTOR": executor},
    )
    assert result.exit_code == 0, result.output
    [app] = served
    after_load = app.state.services.engines.after_load
    # with the local executor, models load in worker processes, which freeze their own
    assert (after_load is freeze_nothing) is freezes
