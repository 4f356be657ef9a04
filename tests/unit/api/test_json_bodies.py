"""Hostile JSON: deep nesting and non-finite numbers are 400s, never 500s, never charged."""

from __future__ import annotations

import httpx
import pytest

from easel.api.jsonbody import MAX_DEPTH, nesting_depth, parse_json
from easel.api.services import Services
from easel.errors import InvalidRequest
from tests.factories import TestAccount
from tests.images import noise_png

SD = "stable-diffusion-v1-6"

pytestmark = pytest.mark.usefixtures("fake_engines")


def v1_error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"id", "name", "message"}
    assert body["name"] == "bad_request"
    return str(body["message"])


def prompt_json(weight: str) -> bytes:
    return (
        b'{"text_prompts": [{"text": "a lighthouse", "weight": 1}, '
        b'{"text": "fog", "weight": ' + weight.encode() + b'}], "steps": 10}'
    )


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1000, 100_000])
async def test_deeply_nested_json_body_is_400(
    client: httpx.AsyncClient, account: TestAccount, services: Services, levels: int
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image",
        headers={**account.headers, "Content-Type": "application/json"},
        content=b"[" * levels + b"]" * levels,
    )
    assert f"nested {levels} levels deep" in v1_error(response)
    assert services.billing.available_credits(account.org_id) == 50


async def test_deeply_nested_multipart_extras_is_400(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/image-to-image",
        headers=account.headers,
        files={"init_image": noise_png(512, 512)},
        data={
            "text_prompts[0][text]": "a lighthouse",
            "extras": '{"a":' * 1000 + "1" + "}" * 1000,
        },
    )
    assert v1_error(response).startswith("extras: JSON nested 1000 levels deep")
    assert services.billing.available_credits(account.org_id) == 50


@pytest.mark.parametrize("weight", ["Infinity", "-Infinity", "NaN", "1e999", "-1e400"])
async def test_non_finite_numbers_in_json_are_400(
    client: httpx.AsyncClient, account: TestAccount, services: Services, weight: str
) -> None:
    # On SQLite these used to make an all-black image and charge for it; on
    # PostgreSQL a 500 that logged the INSERT's parameters, prompt included.
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image",
        headers={**account.headers, "Content-Type": "application/json"},
        content=prompt_json(weight),
    )
    assert "not a valid JSON number" in v1_error(response)
    assert services.billing.available_credits(account.org_id) == 50


@pytest.mark.parametrize("value", ["inf", "-Infinity", "nan"])
async def test_non_finite_numbers_in_multipart_are_400(
    client: httpx.AsyncClient, account: TestAccount, services: Services, value: str
) -> None:
    for field in ("text_prompts[0][weight]", "cfg_scale", "image_strength"):
        response = await client.post(
            f"/v1/generation/{SD}/image-to-image",
            headers=account.headers,
            files={"init_image": noise_png(512, 512)},
            data={"text_prompts[0][text]": "a lighthouse", field: value},
        )
        assert v1_error(response).startswith(field.split("[")[0])
    assert services.billing.available_credits(account.org_id) == 50


async def test_non_finite_in_multipart_extras_is_400(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/image-to-image",
        headers=account.headers,
        files={"init_image": noise_png(512, 512)},
        data={"text_prompts[0][text]": "a lighthouse", "extras": '{"x": NaN}'},
    )
    assert v1_error(response) == "extras: NaN is not a valid JSON number"


# -- the parser alone ----------------------------------------------------------------


def test_brackets_inside_strings_do_not_count() -> None:
    assert nesting_depth('{"a": "[[[[{{{{\\"[[["}') == 1
    assert parse_json(b'{"a": ["' + b"[" * 1000 + b'"]}') == {"a": ["[" * 1000]}


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None


@pytest.mark.parametrize(
    "raw", [b"1" + b"0" * 5000, b"\xff\xfe{", b'{"a": 1', b"   ", b'"\\ud800"x']
)
def test_other_bad_bodies_are_invalid_request(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_json(raw)
