"""`/v1/user/keys` and `/v1/user/credits/daily` through ASGI."""

from __future__ import annotations

import httpx

from easel.api.services import Services
from tests.factories import TestAccount, make_account

SD = "stable-diffusion-v1-6"


async def test_create_list_and_revoke_own_key(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    created = await client.post("/v1/user/keys", headers=account.headers, json={"name": "laptop"})
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith(key["prefix"])
    new = {"Authorization": f"Bearer {key['secret']}"}
    assert (await client.get("/v1/user/balance", headers=new)).status_code == 200

    listed = (await client.get("/v1/user/keys", headers=account.headers)).json()
    assert [k["name"] for k in listed] == ["test", "laptop"]
    assert all("secret" not in k for k in listed)

    revoked = await client.delete(f"/v1/user/keys/{key['id']}", headers=account.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get("/v1/user/balance", headers=new)
    assert refused.status_code == 401
    assert refused.json()["name"] == "unauthorized"
    # revoking twice is harmless
    again = await client.delete(f"/v1/user/keys/{key['id']}", headers=account.headers)
    assert again.status_code == 200


async def test_another_users_key_is_not_found(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    other = make_account(services.accounts, services.billing)
    response = await client.delete(f"/v1/user/keys/{other.key_id}", headers=account.headers)
    assert response.status_code == 404
    assert response.json()["name"] == "not_found"
    still = await client.get("/v1/user/balance", headers=other.headers)
    assert still.status_code == 200


async def test_a_bad_key_body_is_a_400(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await client.post("/v1/user/keys", headers=account.headers, json={"name": "x" * 201})
    assert response.status_code == 400
    assert response.json()["message"].startswith("name:")


async def test_daily_credits_show_todays_charges(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    before = (await client.get("/v1/user/credits/daily?days=7", headers=account.headers)).json()
    assert len(before) == 7
    assert sum(d["credits"] for d in before) == 0
    generated = await client.post(
        f"/v1/generation/{SD}/text-to-image",
        headers=account.headers,
        json={"text_prompts": [{"text": "a fox"}], "steps": 10},
    )
    assert generated.status_code == 200
    job = (await client.get("/v1/generations", headers=account.headers)).json()[0]
    after = (await client.get("/v1/user/credits/daily?days=7", headers=account.headers)).json()
    assert after[-1]["credits"] == job["credits_charged"] > 0
    assert [d["day"] for d in after] == sorted(d["day"] for d in after)


async def test_daily_credits_days_are_bounded(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.get("/v1/user/credits/daily?days=0", headers=account.headers)
    assert response.status_code == 400
    assert response.json()["name"] == "bad_request"
