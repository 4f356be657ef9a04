"""Property: whatever JSON or multipart body reaches a v1 generation route, the answer
is never a 5xx, a 4xx never charges, and every error has Stability's v1 body.

Bounded and derandomized (a fixed sequence of examples), on the fake engines.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easel.api.services import Services
from easel.billing.prices import to_milli
from tests.data.bad.make import corpus as bad_files
from tests.data.bad.make import encode, gradient
from tests.factories import TestAccount
from tests.images import mask_png

SD = "stable-diffusion-v1-6"
INPAINT = "stable-inpainting-512-v2-0"
ESRGAN = "esrgan-v1-x2plus"

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = pytest.mark.usefixtures("fake_engines")

# Values near and across each field's rules, of the right type and of the wrong one.
ODD = st.sampled_from(
    [
        None,
        True,
        -1,
        0,
        1,
        2,
        9,
        10,
        11,
        35,
        36,
        150,
        151,
        4_294_967_296,
        10**40,
        0.5,
        -0.0,
        1e308,
        "",
        "x",
        "512",
        [],
        {},
        [1],
        {"a": 1},
    ]
)
SIZES = st.sampled_from([None, 0, 63, 320, 448, 512, 513, 576, 10**6, -512, "512", 512.0])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PROMPT = st.fixed_dictionaries(
    {"text": st.text(max_size=30) | st.integers()}, optional={"weight": ODD | st.floats()}
)
T2I_BODY = st.fixed_dictionaries(
    {},
    optional={
        "text_prompts": st.lists(PROMPT, max_size=3) | ODD,
        "width": SIZES,
        "height": SIZES,
        "cfg_scale": ODD,
        "samples": st.sampled_from([1, 2, 0, 11, "2", None]),
        "steps": st.sampled_from([10, 9, 151, 30, "10", None]),
        "seed": ODD,
        "sampler": st.sampled_from(["K_EULER", "DDIM", "k_euler", "", None]),
        "style_preset": st.sampled_from(["anime", "ANIME", "", None]),
        "clip_guidance_preset": st.sampled_from(["NONE", "FAST", None]),
        "extras": JSON_VALUES,
    },
)
# Raw bodies: valid-looking JSON text with JavaScript's constants and deep nesting spliced in.
RAW_JSON = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "[" * 200, "{}" * 3]).map(
        lambda word: f'{{"text_prompts":[{{"text":"a","weight":{word}}}]}}'.encode()
    ),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)

GOOD_PNG = encode(gradient(), "PNG")
GOOD_MASK = mask_png(512, 512, box=(0, 0, 256, 256))
FILES = st.sampled_from([GOOD_PNG, GOOD_MASK, b"", *bad_files().values()]) | st.binary(max_size=64)
TEXT_VALUES = st.one_of(
    st.sampled_from(
        [
            "10",
            "0.5",
            "nan",
            "inf",
            "-Infinity",
            "1e999",
            "",
            "IMAGE_STRENGTH",
            "STEP_SCHEDULE",
            "MASK_IMAGE_WHITE",
            "INIT_IMAGE_ALPHA",
            "{}",
            '{"a": NaN}',
            "[" * 100,
        ]
    ),
    st.text(max_size=20),
)
FORM_FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "text_prompts[0][text]",
            "text_prompts[1][weight]",
            "text_prompts[x][text]",
            "cfg_scale",
            "samples",
            "steps",
            "seed",
            "width",
            "height",
            "image_strength",
            "init_image_mode",
            "step_schedule_start",
            "step_schedule_end",
            "mask_source",
            "extras",
            "sampler",
        ]
    ),
    TEXT_VALUES,
    max_size=6,
)
FORM_FILES = st.dictionaries(
    st.sampled_from(["init_image", "mask_image", "image", "other"]), FILES, max_size=3
)
MULTIPART_ROUTES = st.sampled_from(
    [
        f"/v1/generation/{SD}/image-to-image",
        f"/v1/generation/{INPAINT}/image-to-image/masking",
        f"/v1/generation/{ESRGAN}/image-to-image/upscale",
    ]
)


def check(response: httpx.Response, charged: float) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"id", "name", "message"}, body
        assert isinstance(body["name"], str) and isinstance(body["message"], str)
        assert body["id"] == response.headers["x-request-id"]
        assert charged == 0, f"a {response.status_code} charged {charged} credits"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    # shrinking replays many examples; the per-key limit would turn them into 429s
    return {"rate_limit": {"enabled": False}}


@pytest.fixture
def rich(account: TestAccount, services: Services) -> TestAccount:
    services.billing.grant(account.org_id, to_milli(100_000))
    return account


@FUZZ
@given(body=T2I_BODY | JSON_VALUES, accept=st.sampled_from(["application/json", "image/png"]))
async def test_json_bodies(
    client: httpx.AsyncClient, rich: TestAccount, services: Services, body: Any, accept: str
) -> None:
    before = services.billing.available_credits(rich.org_id)
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image",
        headers={**rich.headers, "Accept": accept, "Content-Type": "application/json"},
        content=json.dumps(body).encode(),
    )
    check(response, before - services.billing.available_credits(rich.org_id))


@FUZZ
@given(raw=RAW_JSON)
async def test_raw_json_bodies(
    client: httpx.AsyncClient, rich: TestAccount, services: Services, raw: bytes
) -> None:
    before = services.billing.available_credits(rich.org_id)
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image",
        headers={**rich.headers, "Content-Type": "application/json"},
        content=raw,
    )
    check(response, before - services.billing.available_credits(rich.org_id))
    assert response.status_code == 400


@FUZZ
@given(route=MULTIPART_ROUTES, fields=FORM_FIELDS, files=FORM_FILES)
async def test_multipart_bodies(
    client: httpx.AsyncClient,
    rich: TestAccount,
    services: Services,
    route: str,
    fields: dict[str, str],
    files: dict[str, bytes],
) -> None:
    before = services.billing.available_credits(rich.org_id)
    response = await client.post(
        route,
        headers=rich.headers,
        data=fields,
        files={name: (f"{name}.png", data, "image/png") for name, data in files.items()} or None,
    )
    check(response, before - services.billing.available_credits(rich.org_id))
