"""A Redis rate limiter that cannot reach Redis answers 503 with Retry-After, never 500.

The limiter's Redis URL names a loopback port held by a socket that is bound but
never listens: every connection is refused, and no other process can take the port
while the test runs. (Recovery once Redis is back is tested against a real
redis-server in tests/integration/scaleout/test_redis_outage.py.)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from easel.api.services import Services
from tests.factories import TestAccount
from tests.fakes import FakeEngine


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def settings_overrides(closed_port: int) -> dict[str, object]:
    return {"rate_limit": {"backend": "redis", "redis_url": f"redis://127.0.0.1:{closed_port}/0"}}


async def test_v1_answers_503_with_retry_after(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    refused = await client.get("/v1/user/balance", headers=account.headers)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body == {
        "id": refused.headers["x-request-id"],
        "name": "rate_limiter_unavailable",
        "message": "The rate limiter is unavailable; try again shortly.",
    }


async def test_v2beta_answers_503_in_its_own_shape(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    refused = await client.get("/v2beta/results/" + "0" * 64, headers=account.headers)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body["name"] == "rate_limiter_unavailable"
    assert body["errors"] == ["The rate limiter is unavailable; try again shortly."]


async def test_a_generation_refused_this_way_runs_and_charges_nothing(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    refused = await client.post(
        "/v1/generation/stable-diffusion-v1-6/text-to-image",
        json={"text_prompts": [{"text": "a lighthouse"}]},
        headers=account.headers,
    )
    assert refused.status_code == 503
    assert fake_engines == {}  # no engine was asked for anything
    assert services.billing.available_credits(account.org_id) == 50
