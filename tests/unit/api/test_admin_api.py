"""`/admin/*` through ASGI: administrators only, Stability's v1 error body, and the same
service the admin CLI calls."""

from __future__ import annotations

import httpx
import pytest

from easel.api.services import Services
from tests.factories import TestAccount, make_account


@pytest.fixture
def admin(services: Services) -> TestAccount:
    account = make_account(services.accounts, services.billing, credits=0)
    with services.db.session() as session:
        from easel.db.models import User

        user = session.get(User, account.user_id)
        assert user is not None
        user.is_admin = True
    return account


async def test_a_non_admin_gets_403_in_stabilitys_shape(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.get("/admin/organizations", headers=account.headers)
    assert response.status_code == 403
    body = response.json()
    assert body["name"] == "permission_denied"
    assert body["id"] == response.headers["X-Request-Id"]
    assert "administrators" in body["message"]


async def test_no_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/organizations", json={"name": "x"})
    assert response.status_code == 401
    assert response.json()["name"] == "unauthorized"


async def test_organizations_members_and_credits(
    client: httpx.AsyncClient, admin: TestAccount, account: TestAccount
) -> None:
    created = await client.post(
        "/admin/organizations", headers=admin.headers, json={"name": "Design"}
    )
    assert created.status_code == 201
    org = created.json()
    assert (org["name"], org["members"], org["credits"]) == ("Design", 0, 0)

    added = await client.post(
        f"/admin/organizations/{org['id']}/members",
        headers=admin.headers,
        json={"user": account.email.upper(), "role": "ADMIN"},
    )
    assert added.status_code == 201
    assert added.json() == {
        "user_id": account.user_id,
        "email": account.email,
        "role": "ADMIN",
        "is_default": False,
    }
    again = await client.post(
        f"/admin/organizations/{org['id']}/members",
        headers=admin.headers,
        json={"user": account.user_id},
    )
    assert again.status_code == 409
    assert again.json()["name"] == "conflict"

    granted = await client.post(
        f"/admin/organizations/{org['id']}/credits",
        headers=admin.headers,
        json={"credits": 12.5, "note": "pilot"},
    )
    assert granted.status_code == 200
    statement = granted.json()
    assert statement["available"] == 12.5
    assert statement["ledger"][0]["kind"] == "grant"
    assert statement["ledger"][0]["note"] == "pilot"

    listed = await client.get("/admin/organizations", headers=admin.headers)
    design = next(o for o in listed.json() if o["id"] == org["id"])
    assert (design["members"], design["credits"]) == (1, 12.5)
    members = await client.get(f"/admin/organizations/{org['id']}/members", headers=admin.headers)
    assert [m["email"] for m in members.json()] == [account.email]


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/admin/organizations", {"name": ""}, 400, "name:"),
        ("/admin/organizations", {"name": "x", "extra": 1}, 400, "extra:"),
        ("/admin/organizations", None, 400, "body: is required"),
        ("/admin/organizations/org-missing/credits", {"credits": 5}, 404, "org-missing"),
        ("/admin/organizations/org-missing/members", {"user": "a@b.co"}, 404, "not found"),
        ("/admin/users", {"email": "not-an-address"}, 400, "email"),
    ],
)
async def test_bad_admin_requests_are_clear_4xx(
    client: httpx.AsyncClient,
    admin: TestAccount,
    path: str,
    body: object,
    status: int,
    fragment: str,
) -> None:
    response = await client.post(path, headers=admin.headers, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]


async def test_removing_more_credits_than_available_is_refused(
    client: httpx.AsyncClient, admin: TestAccount, account: TestAccount
) -> None:
    response = await client.post(
        f"/admin/organizations/{account.org_id}/credits",
        headers=admin.headers,
        json={"credits": -500},
    )
    assert response.status_code == 400
    assert "negative" in response.json()["message"]


@pytest.mark.parametrize("credits", [2.7352012028265084e16, 1e300, -1e300])
async def test_a_grant_past_what_a_balance_holds_is_a_400_not_an_overflow(
    client: httpx.AsyncClient, admin: TestAccount, account: TestAccount, credits: float
) -> None:
    # found by schemathesis: 2.7e16 credits overflowed the 64-bit balance column (a 500)
    response = await client.post(
        f"/admin/organizations/{account.org_id}/credits",
        headers=admin.headers,
        json={"credits": credits},
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("credits:")


async def test_create_user(client: httpx.AsyncClient, admin: TestAccount) -> None:
    response = await client.post(
        "/admin/users", headers=admin.headers, json={"email": "New@Example.com"}
    )
    assert response.status_code == 201
    assert response.json()["email"] == "new@example.com"
    clash = await client.post(
        "/admin/users", headers=admin.headers, json={"email": "new@example.com"}
    )
    assert clash.status_code == 409
