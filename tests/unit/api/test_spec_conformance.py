"""What third-party clients check against Stability's v1 spec: response schemas with
their formats, documented statuses per route, and the default bootstrap email."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, EmailStr

from easel.api.services import Services
from easel.config import ServerSettings
from tests.factories import TestAccount

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "data" / "stability-api-v1.openapi.json").read_text()
)
GET_ROUTES = ["/v1/user/account", "/v1/user/balance", "/v1/engines/list"]
GENERATION_ROUTES = [
    "/v1/generation/stable-diffusion-v1-6/text-to-image",
    "/v1/generation/stable-diffusion-v1-6/image-to-image",
    "/v1/generation/stable-inpainting-512-v2-0/image-to-image/masking",
    "/v1/generation/esrgan-v1-x2plus/image-to-image/upscale",
]


def response_validator(path: str, method: str, status: str) -> Draft202012Validator:
    """A validator for one documented response body, formats (`uri`, `email`) checked."""
    schema = SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]
    checker = Draft202012Validator.FORMAT_CHECKER
    # jsonschema skips formats whose checker library is missing; this one must run
    assert "uri" in checker.checkers, "install rfc3986-validator (the dev extra)"
    return Draft202012Validator(
        {**schema["schema"], "components": SPEC["components"]}, format_checker=checker
    )


def spec_path(path: str) -> str:
    """`/v1/generation/<engine>/…` → the spec's templated path."""
    parts = path.split("/")
    if parts[2] == "generation":
        parts[3] = "{engine_id}"
    return "/".join(parts)


@pytest.mark.parametrize("path", GET_ROUTES)
async def test_get_responses_match_the_spec_schema(
    client: httpx.AsyncClient, account: TestAccount, path: str
) -> None:
    response = await client.get(path, headers=account.headers)
    assert response.status_code == 200, response.text
    errors = [
        e.message for e in response_validator(path, "get", "200").iter_errors(response.json())
    ]
    assert errors == []


async def test_account_omits_an_empty_profile_picture(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.get("/v1/user/account", headers=account.headers)
    assert "profile_picture" not in response.json()


def test_default_bootstrap_email_passes_pydantics_email_check() -> None:
    """The PyPI `stabilityai` client reads `/v1/user/account` into a model with
    `email: EmailStr`, which email-validator backs."""

    class Account(BaseModel):
        email: EmailStr

    default = ServerSettings().bootstrap_email
    assert Account(email=default).email == default


@pytest.mark.parametrize(
    "route",
    [(p, "get") for p in GET_ROUTES] + [(p, "post") for p in GENERATION_ROUTES],
    ids=lambda route: f"{route[1]} {route[0]}",
)
async def test_foreign_organization_gets_a_documented_status(
    client: httpx.AsyncClient, account: TestAccount, services: Services, route: tuple[str, str]
) -> None:
    """401 where the spec lists no 403 for the route, 403 where it does."""
    path, method = route
    stranger_org = services.accounts.create_organization("Stranger")
    headers = {**account.headers, "Organization": stranger_org}
    response = await client.request(method.upper(), path, headers=headers)
    documented = SPEC["paths"][spec_path(path)][method]["responses"]
    expected = 403 if "403" in documented else 401
    assert response.status_code == expected, response.text
    body = response.json()
    assert body["name"] == ("permission_denied" if expected == 403 else "unauthorized")
    assert stranger_org in body["message"] and "not a member" in body["message"]


async def test_unknown_key_message_has_one_final_period(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/user/account", headers={"Authorization": "sk-unknown1234"})
    message = response.json()["message"]
    assert response.status_code == 401
    assert "…." not in message and ".." not in message and message.endswith("one.")
