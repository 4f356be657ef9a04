"""Generations that outlast the client's read timeout, against a real HTTP server.

The issue's scenario (a 3-minute job, a 10 s client timeout) scaled down: a
1 s client timeout and a job held by the fake engine's gate until the client
has timed out and come back with the same Idempotency-Key. The job must run
on through the disconnect; the SDK and the CLI get the image and the account
is charged once. (That the server keeps a keyed job running when its client
goes away is the server's half of the fix.)
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from easel.api.app import create_app
from easel.api.services import Services
from easel.cli.client_commands import build_client, register
from easel.client import Client, GenerationProgress, RetryPolicy
from tests.factories import TestAccount, make_account, make_settings
from tests.fakes import FakeEngine
from tests.integration.conftest import free_port

ENGINE = "stable-diffusion-v1-6"
STEPS = 10
NO_RETRIES = RetryPolicy(max_retries=0)  # waiting again for a running job is not a retry


class CountingTransport(httpx.HTTPTransport):
    """Counts generation attempts; `came_back` fires on the second one."""

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0
        self.came_back = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts >= 2:
                self.came_back.set()
        return super().handle_request(request)


@dataclass
class Served:
    url: str
    services: Services
    engine: FakeEngine
    account: TestAccount

    def credits(self) -> float:
        with Client(self.account.secret, host=self.url) as client:
            return client.balance().credits


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = make_settings(tmp_path / "data", f"sqlite:///{tmp_path / 'easel.db'}")
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.01)
    services: Services = app.state.services
    engine = FakeEngine(services.engines.spec(ENGINE))
    engine.gate = threading.Event()
    services.engines.get = lambda engine_id: engine  # type: ignore[method-assign]
    account = make_account(services.accounts, services.billing, credits=50)
    yield Served(f"http://127.0.0.1:{port}", services, engine, account)
    assert engine.gate is not None
    engine.gate.set()
    server.should_exit = True
    thread.join(timeout=30)


def release_when_the_client_came_back(served: Served, transport: CountingTransport) -> None:
    assert transport.came_back.wait(30), "the client never sent its request again"
    assert served.engine.gate is not None
    served.engine.gate.set()


def test_sdk_gets_the_image_of_a_job_longer_than_its_timeout(served: Served) -> None:
    transport = CountingTransport()
    reports: list[GenerationProgress] = []
    before = served.credits()
    with (
        Client(
            served.account.secret,
            host=served.url,
            timeout=1.0,
            retry=NO_RETRIES,
            transport=transport,
        ) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        estimate = client.estimate_credits(ENGINE, steps=STEPS)
        pending = pool.submit(
            client.text_to_image,
            ENGINE,
            "a slow lighthouse",
            steps=STEPS,
            seed=5,
            on_progress=reports.append,
        )
        release_when_the_client_came_back(served, transport)
        result = pending.result(timeout=30)

    assert [a.seed for a in result.artifacts] == [5]
    assert result.artifacts[0].to_bytes()[:4] == b"\x89PNG"
    assert transport.posts >= 2
    assert len(served.engine.calls) == 1  # one job, attached to by every attempt
    assert before - served.credits() == pytest.approx(estimate, abs=0.001)
    assert any(r.status == "running" and r.steps == STEPS for r in reports)


def test_cli_gets_the_image_of_a_job_longer_than_its_timeout(
    served: Served, tmp_path: Path
) -> None:
    transport = CountingTransport()
    app = typer.Typer()
    register(
        app,
        client_factory=functools.partial(
            build_client, timeout=1.0, retry=NO_RETRIES, transport=transport
        ),
    )
    before = served.credits()
    args = ["generate", "a slow lighthouse", "--steps", str(STEPS), "-o", str(tmp_path)]
    env = {"API_HOST": served.url, "EASEL_API_KEY": served.account.secret}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(CliRunner().invoke, app, [*args, "--prefix", "slow"], env=env)
        release_when_the_client_came_back(served, transport)
        result = pending.result(timeout=30)

    assert result.exit_code == 0, result.stderr
    [saved] = result.stdout.splitlines()
    assert Path(saved).parent == tmp_path and Path(saved).name.startswith("slow-")
    assert Path(saved).read_bytes()[:4] == b"\x89PNG"
    assert len(served.engine.calls) == 1
    with Client(served.account.secret, host=served.url) as client:
        estimate = client.estimate_credits(ENGINE, steps=STEPS)
    assert before - served.credits() == pytest.approx(estimate, abs=0.001)
