"""Failed authentication is rate limited per client address; a flood of bogus keys
neither stays free nor grows the request log without bound."""

from __future__ import annotations

import httpx
import pytest

from easel.api.services import Services
from tests.factories import TestAccount
from tests.unit.api.conftest import FakeClock, request_log

BOGUS = {"Authorization": "Bearer sk-bogus"}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "auth_limit": {"burst": 5, "per_second": 0.5},
        "request_log": {"unauthenticated_burst": 3, "unauthenticated_per_second": 0.1},
    }


async def failures_until_429(client: httpx.AsyncClient, limit: int = 100) -> int:
    for attempt in range(limit):
        response = await client.get("/v1/user/balance", headers=BOGUS)
        if response.status_code == 429:
            return attempt
        assert response.status_code == 401
    raise AssertionError(f"no 429 after {limit} failed authentications")


async def test_burst_of_failures_then_429_with_retry_after(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    assert await failures_until_429(client) == 5
    response = await client.get("/v1/user/balance", headers=BOGUS)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"  # one token at 0.5 per second
    body = response.json()
    assert set(body) == {"id", "name", "message"} and body["name"] == "rate_limit_exceeded"
    clock.advance(2)
    assert (await client.get("/v1/user/balance", headers=BOGUS)).status_code == 401
    assert (await client.get("/v1/user/balance", headers=BOGUS)).status_code == 429


async def test_missing_header_counts_as_a_failure(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await client.get("/v1/user/balance")).status_code == 401
    assert (await client.get("/v1/user/balance")).status_code == 429


async def test_valid_keys_do_not_spend_the_budget(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    for _ in range(20):
        assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 200
    assert await failures_until_429(client) == 5


async def test_limited_address_cannot_even_try_a_valid_key(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    await failures_until_429(client)
    assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 429


async def test_other_addresses_are_not_limited(app: object, client: httpx.AsyncClient) -> None:
    await failures_until_429(client)
    other = httpx.ASGITransport(app=app, client=("10.0.0.2", 1234))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=other, base_url="http://easel.test") as elsewhere:
        assert (await elsewhere.get("/v1/user/balance", headers=BOGUS)).status_code == 401


async def test_unauthenticated_request_log_rows_are_rationed(
    client: httpx.AsyncClient, account: TestAccount, services: Services, clock: FakeClock
) -> None:
    for _ in range(5):  # authenticated rows are never rationed
        await client.get("/v1/user/balance", headers=account.headers)
    for _ in range(30):
        await client.get("/v1/user/balance", headers=BOGUS)
    statuses = [r.status for r in request_log(services, limit=1000)]
    # the burst of 3; the other 27 (401s and 429s) are only counted in /metrics
    assert sorted(statuses) == [200] * 5 + [401] * 3
    metrics = services.metrics.render().decode()
    assert 'status="401"} 5.0' in metrics and 'status="429"} 25.0' in metrics
    clock.advance(10)  # one more row earned
    for _ in range(5):
        await client.get("/v1/user/balance", headers=BOGUS)
    assert len(request_log(services, limit=1000)) == 5 + 3 + 1
