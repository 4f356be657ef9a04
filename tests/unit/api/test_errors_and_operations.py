"""The error contract, request ids, the request log, health and metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from easel.api.app import EaselApp, create_app
from easel.api.services import Services
from easel.db.engine import Database
from easel.usage.service import UsageService
from tests.factories import TestAccount, make_account, make_settings
from tests.unit.api.conftest import request_log


async def test_unknown_route_is_v1_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing/here")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"id", "name", "message"}
    assert body["name"] == "not_found"
    assert body["id"] == response.headers["x-request-id"]


async def test_v2beta_errors_use_the_errors_array(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2beta/nothing")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"id", "name", "errors"}
    assert isinstance(body["errors"], list) and body["errors"]


async def test_wrong_method_is_405_in_stability_shape(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.post("/v1/user/account", headers=account.headers)
    assert response.status_code == 405
    assert response.json()["name"] == "method_not_allowed"


async def test_request_ids_are_unique(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) == 32 for i in ids)


async def test_unexpected_exception_is_500_without_traceback(
    app: EaselApp, services: Services, account: TestAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(services.engines, "list", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/v1/engines/list", headers=account.headers)
    assert response.status_code == 500
    body = response.json()
    assert body["name"] == "server_error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["id"] == response.headers["x-request-id"]


async def test_body_over_limit_is_413(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await client.post(
        "/v1/user/account", headers=account.headers, content=b"x" * (10 * 1024 * 1024 + 1)
    )
    assert response.status_code == 413
    assert response.json()["name"] == "payload_too_large"


async def test_request_log_records_client_headers_not_bodies(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await client.get(
        "/v1/user/balance",
        headers={
            **account.headers,
            "Stability-Client-ID": "my-app",
            "Stability-Client-Version": "1.2.1",
        },
    )
    (entry,) = request_log(services, limit=1)
    assert entry.request_id == response.headers["x-request-id"]
    assert entry.route == "/v1/user/balance"
    assert entry.status == 200
    assert entry.api_key_id == account.key_id
    assert entry.organization_id == account.org_id
    assert (entry.client_id, entry.client_version) == ("my-app", "1.2.1")
    assert entry.latency_ms >= 0


async def test_the_request_log_is_written_off_the_request_path_and_at_shutdown(
    tmp_path: Path, migrated_db_url: str
) -> None:
    settings = make_settings(
        tmp_path,
        migrated_db_url,
        database={"migrate_on_start": False},
        request_log={"flush_seconds": 3600},  # only the shutdown writes
    )
    app = create_app(settings)
    services: Services = app.state.services
    async with app.router.lifespan_context(app):
        account = make_account(services.accounts, services.billing, credits=1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://easel.test") as client:
            response = await client.get("/v1/user/balance", headers=account.headers)
        assert UsageService(services.db).recent() == []  # queued, not yet written
    # the app's database is disposed with the app: read with one of the test's own
    database = Database(migrated_db_url)
    try:
        (entry,) = UsageService(database).recent()
    finally:
        database.dispose()
    assert entry.request_id == response.headers["x-request-id"]


async def test_failed_auth_is_logged_too(client: httpx.AsyncClient, services: Services) -> None:
    response = await client.get("/v1/user/balance", headers={"Authorization": "Bearer nope"})
    (entry,) = request_log(services, limit=1)
    assert (entry.status, entry.api_key_id) == (401, None)
    assert entry.request_id == response.headers["x-request-id"]


async def test_health_ready_and_metrics(client: httpx.AsyncClient, account: TestAccount) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await client.get("/v1/user/balance", headers=account.headers)
    await client.get("/v1/user/balance")
    text = (await client.get("/metrics")).text
    assert (
        'easel_http_requests_total{method="GET",route="/v1/user/balance",status="200"} 1.0' in text
    )
    assert 'route="/v1/user/balance",status="401"' in text
    assert "easel_http_request_duration_seconds_bucket" in text


async def test_a_path_holding_a_newline_still_gets_a_stability_error(
    client: httpx.AsyncClient,
) -> None:
    # found by schemathesis: a Mount's pattern missed it and Starlette answered text/plain
    response = await client.get("/v2beta/image-to-video/result/%0Aj%C2%BA")
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"id", "name", "errors"}
