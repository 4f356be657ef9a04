"""v1 account, balance and engines endpoints."""

from __future__ import annotations

import httpx

from easel.api.services import Services
from easel.engines.catalog import v1_engines, v2beta_engines
from tests.factories import TestAccount


async def test_account_shape(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await client.get("/v1/user/account", headers=account.headers)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": account.user_id,
        "email": account.email,
        "organizations": [
            {"id": account.org_id, "name": "Test org", "role": "OWNER", "is_default": True}
        ],
    }


async def test_balance_of_default_and_other_org(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await client.get("/v1/user/balance", headers=account.headers)
    assert response.json() == {"credits": 50.0}

    second = services.accounts.create_organization("Second")
    services.accounts.add_member(account.user_id, second)
    services.billing.grant(second, 7_250)
    response = await client.get(
        "/v1/user/balance", headers={**account.headers, "Organization": second}
    )
    assert response.json() == {"credits": 7.25}


async def test_engines_list_is_a_bare_array_of_every_v1_default(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.get("/v1/engines/list", headers=account.headers)
    assert response.status_code == 200
    engines = response.json()
    assert isinstance(engines, list)
    # v2beta engines (sd3.5-large, upscale-fast, ...) are not v1 engines
    assert [e["id"] for e in engines] == [spec.id for spec in v1_engines()]
    for engine in engines:
        assert set(engine) == {"id", "name", "description", "type"}
        assert engine["type"] == "PICTURE"
        assert "Sandbox" in engine["description"]


async def test_pricing_lists_every_engine(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await client.get("/v1/engines/pricing", headers=account.headers)
    rows = {row["engine_id"]: row for row in response.json()}
    assert rows["stable-diffusion-xl-1024-v1-0"] == {
        "engine_id": "stable-diffusion-xl-1024-v1-0",
        "kind": "generate",
        "credits_per_image": 0.9,
        "base_pixels": 1024 * 1024,
        "base_steps": 30,
    }
    assert rows["esrgan-v1-x2plus"]["kind"] == "upscale"
    # v2beta engines are priced too, at Stability's credits per call
    assert {spec.id for spec in v2beta_engines()} <= set(rows)
    assert rows["sd3.5-large"]["credits_per_image"] == 6.5
    assert rows["upscale-creative"]["credits_per_image"] == 60.0
