"""The per-key rate limit through the API, on the memory and Redis backends."""

from __future__ import annotations

import uuid

import httpx
import pytest

from easel.api.services import Services
from tests.conftest import REDIS_URL
from tests.factories import TestAccount, make_account
from tests.unit.api.conftest import FakeClock


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    # A unique Redis db prefix is not configurable; unique keys come from unique key ids.
    return {
        "rate_limit": {
            "backend": request.param,
            "requests": 5,
            "window_seconds": 10,
            "lockout_seconds": 60,
            "redis_url": REDIS_URL,
        }
    }


async def test_over_limit_is_429_then_locked_out(
    client: httpx.AsyncClient, account: TestAccount, clock: FakeClock
) -> None:
    for _ in range(5):
        assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 200
    refused = await client.get("/v1/user/balance", headers=account.headers)
    assert refused.status_code == 429
    body = refused.json()
    assert body["name"] == "rate_limit_exceeded"
    assert body["id"] == refused.headers["x-request-id"]
    assert refused.headers["retry-after"] == "60"
    assert "5 requests within a 10 second period" in body["message"]

    clock.advance(30)  # the window has passed, the lock-out has not
    still = await client.get("/v1/user/balance", headers=account.headers)
    assert still.status_code == 429
    assert int(still.headers["retry-after"]) == 30

    clock.advance(30.5)
    assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 200


async def test_keys_are_limited_independently(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    other = make_account(services.accounts, services.billing, email=f"{uuid.uuid4().hex}@x.io")
    for _ in range(6):
        await client.get("/v1/user/balance", headers=account.headers)
    assert (await client.get("/v1/user/balance", headers=other.headers)).status_code == 200


async def test_unauthenticated_requests_do_not_consume_a_keys_budget(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    for _ in range(10):
        await client.get("/v1/user/balance", headers={"Authorization": "Bearer wrong"})
    assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 200
