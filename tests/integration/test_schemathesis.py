"""The fuzz campaign that stays: schemathesis on easel's own OpenAPI document, in every
`make test`, against a real `easel serve` (see `fuzzing.py` for the profiles)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningServer, start_server, stop_server
from tests.integration.fuzzing import QUICK, response_statuses, run, server_env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("fuzz") / "data", env=server_env(QUICK))
    yield running
    stop_server(running)


def test_schemathesis_finds_no_5xx_and_no_response_off_the_document(
    server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run(server, QUICK, tmp_path)
    with capsys.disabled():
        print(f"\n{outcome.summary()}")
    assert outcome.exit_code is not None, f"over {QUICK.time_limit} s:\n{outcome.output[-8000:]}"
    assert outcome.server_errors == 0, outcome.output[-8000:]
    assert outcome.exit_code == 0, outcome.output[-8000:]
    # the figures come from the report: an empty one would pass everything above
    assert outcome.requests >= 1000


def test_the_figures_count_every_response_in_the_report(tmp_path: Path) -> None:
    def finished(*statuses: int | None) -> str:
        interactions = {
            str(i): {"response": None if s is None else {"status_code": s}}
            for i, s in enumerate(statuses)
        }
        recorder = {"label": "x", "cases": {}, "checks": {}, "interactions": interactions}
        return json.dumps({"ScenarioFinished": {"id": "a", "recorder": recorder}})

    report = tmp_path / "ndjson-1.ndjson"
    report.write_text(
        "\n".join(['{"Initialize": {}}', finished(200, 400), finished(500, None), finished()])
    )
    assert sorted(response_statuses(tmp_path)) == [200, 400, 500]
