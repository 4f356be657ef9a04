"""`/metrics` behind a bearer token when `server.metrics_token` is set."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"server": {"metrics_token": "prom-s3cret"}}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer prom-s3cre"}],
)
async def test_metrics_refuse_a_missing_or_wrong_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["name"] == "unauthorized"
    assert "easel_http_requests_total" not in response.text


async def test_metrics_answer_the_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Authorization": "Bearer prom-s3cret"})
    assert response.status_code == 200
    assert "easel_http_requests_total" in response.text
