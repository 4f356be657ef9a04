"""Clients that go away or dawdle: 499 (not 500) when they abort, 408 when the body is slow.

Raw ASGI calls, so the test decides exactly when the body stops arriving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from easel.api.app import EaselApp
from easel.api.services import Services
from tests.asgi import call, messages_then
from tests.factories import TestAccount
from tests.fakes import FakeEngine
from tests.unit.api.conftest import request_log

SD = "stable-diffusion-v1-6"
T2I = f"/v1/generation/{SD}/text-to-image"
BODY = json.dumps({"text_prompts": [{"text": "a lighthouse"}], "steps": 10}).encode()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"server": {"body_timeout_seconds": 0.2}}


def chunk(body: bytes) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": True}


def assert_recorded(services: Services, status: int, caplog: pytest.LogCaptureFixture) -> None:
    metrics = services.metrics.render().decode()
    assert f'route="{T2I.replace(SD, "{engine_id}")}",status="{status}"' in metrics
    assert 'status="500"' not in metrics
    assert [r.status for r in request_log(services)] == [status]
    access = [r.getMessage() for r in caplog.records if r.name == "easel.access"]
    assert len(access) == 1 and f"status={status}" in access[0]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_upload_cut_short_is_499_in_one_line(
    app: EaselApp, account: TestAccount, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {**account.headers, "Content-Type": "application/json", "Content-Length": "1000"}
    with caplog.at_level(logging.INFO):
        sent = await call(app, T2I, headers, messages_then(chunk(BODY[:16]), then="disconnect"))
    assert sent == []  # nobody to answer
    assert_recorded(services, 499, caplog)
    assert services.billing.available_credits(account.org_id) == 50


async def test_multipart_upload_cut_short_is_499(
    app: EaselApp, account: TestAccount, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {**account.headers, "Content-Type": "multipart/form-data; boundary=xyz"}
    part = b'--xyz\r\nContent-Disposition: form-data; name="init_image"; filename="a.png"\r\n\r\n'
    with caplog.at_level(logging.INFO):
        await call(
            app,
            f"/v1/generation/{SD}/image-to-image",
            headers,
            messages_then(chunk(part + b"\x89PNG"), then="disconnect"),
        )
    assert [r.status for r in request_log(services)] == [499]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_slow_body_is_408_in_v1_format(
    app: EaselApp, account: TestAccount, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {**account.headers, "Content-Type": "application/json", "Content-Length": "1000"}
    with caplog.at_level(logging.INFO):
        sent = await call(app, T2I, headers, messages_then(chunk(BODY[:16]), then="silence"))
    assert sent[0]["status"] == 408
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert set(body) == {"id", "name", "message"} and body["name"] == "request_timeout"
    assert_recorded(services, 408, caplog)


async def test_waiting_for_a_disconnect_after_the_body_is_not_timed_out(
    app: EaselApp, account: TestAccount, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    # A generation that outlasts body_timeout_seconds: the job's disconnect watcher
    # keeps receiving, and must not be answered 408.
    engine = FakeEngine(services.engines.spec(SD))
    engine.gate = threading.Event()
    fake_engines[SD] = engine
    headers = {**account.headers, "Content-Type": "application/json"}
    body = {"type": "http.request", "body": BODY, "more_body": False}
    task = asyncio.create_task(call(app, T2I, headers, messages_then(body, then="silence")))
    while not engine.started.is_set():
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.4)  # twice the body timeout, while the job is held
    engine.gate.set()
    sent = await task
    assert sent[0]["status"] == 200


async def test_disconnect_during_generation_is_499(
    app: EaselApp, account: TestAccount, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    engine = FakeEngine(services.engines.spec(SD))
    engine.gate = threading.Event()
    fake_engines[SD] = engine
    headers = {**account.headers, "Content-Type": "application/json"}
    gone = asyncio.Event()
    pending = [{"type": "http.request", "body": BODY, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    task = asyncio.create_task(call(app, T2I, headers, receive))
    while not engine.started.is_set():
        await asyncio.sleep(0.02)
    gone.set()
    await task
    engine.gate.set()
    assert [r.status for r in request_log(services)] == [499]
    assert 'status="500"' not in services.metrics.render().decode()
