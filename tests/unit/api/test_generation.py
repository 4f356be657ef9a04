"""v1 generation endpoints through the API, on fake engines: parsing, validation,
responses and credits."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from easel.api.services import Services
from easel.errors import EngineError
from tests.factories import TestAccount
from tests.fakes import FakeEngine
from tests.images import mask_png, noise_png, png_bytes

SD = "stable-diffusion-v1-6"
SD512 = "stable-diffusion-512-v2-1"
SDXL = "stable-diffusion-xl-1024-v1-0"
INPAINT = "stable-inpainting-512-v2-0"
ESRGAN = "esrgan-v1-x2plus"

pytestmark = pytest.mark.usefixtures("fake_engines")


def t2i(**overrides: object) -> dict[str, object]:
    return {"text_prompts": [{"text": "A lighthouse on a cliff"}], "steps": 10, **overrides}


async def post_t2i(
    client: httpx.AsyncClient,
    account: TestAccount,
    engine: str = SD,
    accept: str | None = None,
    **body: object,
) -> httpx.Response:
    headers = {**account.headers, **({"Accept": accept} if accept else {})}
    return await client.post(
        f"/v1/generation/{engine}/text-to-image", headers=headers, json=t2i(**body)
    )


def error(response: httpx.Response, status: int, name: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"id", "name", "message"}
    assert body["name"] == name, body
    assert body["id"] == response.headers["x-request-id"]
    return str(body["message"])


async def test_json_response_has_artifacts_with_seeds(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await post_t2i(client, account, seed=42, samples=3)
    assert response.status_code == 200, response.text
    artifacts = response.json()["artifacts"]
    assert [a["seed"] for a in artifacts] == [42, 43, 44]
    assert {a["finishReason"] for a in artifacts} == {"SUCCESS"}
    image = Image.open(io.BytesIO(base64.b64decode(artifacts[0]["base64"])))
    assert (image.format, image.size) == ("PNG", (512, 512))
    parameters = json.loads(image.info["parameters"])
    assert parameters["seed"] == 42 and parameters["steps"] == 10
    assert response.headers["x-generation-id"]


async def test_png_response_has_headers(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post_t2i(client, account, accept="image/png", seed=7)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["finish-reason"] == "SUCCESS"
    assert response.headers["seed"] == "7"
    assert Image.open(io.BytesIO(response.content)).size == (512, 512)


async def test_seed_zero_gives_distinct_random_seeds(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    artifacts = (await post_t2i(client, account, samples=4)).json()["artifacts"]
    seeds = [a["seed"] for a in artifacts]
    assert len(set(seeds)) == 4 and all(0 < s <= 4_294_967_295 for s in seeds)


async def test_request_reaches_engine_typed(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    await post_t2i(
        client,
        account,
        text_prompts=[{"text": "a cat", "weight": 0.7}, {"text": "blurry", "weight": -1}],
        cfg_scale=12.5,
        sampler="K_EULER",
        style_preset="anime",
        width=640,
        height=512,
        clip_guidance_preset="FAST_BLUE",
        extras={"x": 1},
    )
    (request,) = fake_engines[SD].calls[0]
    assert [(pr.text, pr.weight) for pr in request.prompts] == [("a cat", 0.7), ("blurry", -1)]
    assert (request.width, request.height, request.cfg_scale) == (640, 512, 12.5)
    assert (request.sampler, request.style_preset, request.steps) == ("K_EULER", "anime", 10)
    assert request.extras == {"x": 1}


async def test_samples_over_one_with_png_is_invalid_samples(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await post_t2i(client, account, accept="image/png", samples=2)
    error(response, 400, "invalid_samples")


# The size and parameter rules are tested case by case in tests/unit/engines/test_dimensions.py
# and tests/unit/api/test_params.py; these cases prove the route applies them.


async def test_dimension_rules_refuse_before_charging(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post_t2i(client, account, engine=SD512, width=256, height=256)
    error(response, 400, "invalid_pixel_count")
    response = await post_t2i(client, account, engine=SDXL, width=512, height=512)
    error(response, 400, "invalid_sdxl_v1_dimensions")
    assert services.billing.available_credits(account.org_id) == 50


async def test_valid_edge_size(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post_t2i(client, account, engine=SDXL, width=832, height=1216)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"cfg_scale": 36}, "cfg_scale"),
        ({"text_prompts": [{"weight": 1}]}, "text_prompts[0][text]"),
        ({"text_prompts": [{"text": "only negative", "weight": -1}]}, "positive weight"),
    ],
)
async def test_bad_parameters_are_bad_request(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    body: dict[str, object],
    fragment: str,
) -> None:
    message = error(await post_t2i(client, account, **body), 400, "bad_request")
    assert fragment in message
    assert services.billing.available_credits(account.org_id) == 50


async def test_malformed_json_is_bad_request(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    for content in (b"", b"{not json"):
        response = await client.post(
            f"/v1/generation/{SD}/text-to-image",
            headers={**account.headers, "Content-Type": "application/json"},
            content=content,
        )
        error(response, 400, "bad_request")


async def test_unknown_engine_is_not_found(client: httpx.AsyncClient, account: TestAccount) -> None:
    message = error(await post_t2i(client, account, engine="some-fake-engine"), 404, "not_found")
    assert message == "The specified engine (ID some-fake-engine) was not found."


async def test_engine_of_the_wrong_kind_is_400(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    assert "upscale" in error(await post_t2i(client, account, engine=ESRGAN), 400, "bad_request")
    response = await client.post(
        f"/v1/generation/{SD}/image-to-image/upscale",
        headers=account.headers,
        files={"image": noise_png(256, 256)},
    )
    assert "upscale" in error(response, 400, "bad_request")


async def test_credits_are_charged_with_the_request_id(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post_t2i(client, account, steps=30, samples=2)
    assert response.status_code == 200
    assert services.billing.available_credits(account.org_id) == pytest.approx(50 - 1.8)
    charge = services.billing.ledger(account.org_id)[0]
    assert (charge.kind, charge.credits) == ("charge", -1.8)
    assert charge.request_id == response.headers["x-request-id"]


async def test_low_balance_is_refused_before_any_work(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    services.billing.grant(account.org_id, -49_500)  # 0.5 credits left
    message = error(await post_t2i(client, account, steps=30), 402, "insufficient_balance")
    assert "0.9" in message
    assert fake_engines == {}  # the engine was never even loaded
    assert services.billing.available_credits(account.org_id) == 0.5


async def test_engine_failure_is_500_and_releases_credits(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    engine = FakeEngine(services.engines.spec(SD))
    engine.fail_with = EngineError("out of luck")
    fake_engines[SD] = engine
    response = await post_t2i(client, account)
    error(response, 500, "server_error")
    assert len(response.headers["x-generation-id"]) == 64  # the failed job's id
    assert services.billing.available_credits(account.org_id) == 50
    assert [e.kind for e in services.billing.ledger(account.org_id)] == ["grant"]


@pytest.mark.parametrize("settings_overrides", [{"safety": {"blocked_terms": ["forbidden"]}}])
async def test_filtered_prompt_is_invalid_prompts(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post_t2i(client, account, text_prompts=[{"text": "a Forbidden castle"}])
    error(response, 400, "invalid_prompts")
    assert services.billing.available_credits(account.org_id) == 50


# -- image-to-image -------------------------------------------------------------------


def i2i_data(**fields: object) -> dict[str, str]:
    return {
        "text_prompts[0][text]": "Galactic dog with a cape",
        "steps": "10",
        **{k: str(v) for k, v in fields.items()},
    }


async def post_i2i(
    client: httpx.AsyncClient, account: TestAccount, files: dict[str, object], **fields: object
) -> httpx.Response:
    return await client.post(
        f"/v1/generation/{SD}/image-to-image",
        headers=account.headers,
        files=files,  # type: ignore[arg-type]
        data=i2i_data(**fields),
    )


async def test_image_to_image_modes(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    files = {"init_image": noise_png(512, 576), "none": b""}
    response = await post_i2i(client, account, files, image_strength=0.8)
    assert response.status_code == 200, response.text
    request = fake_engines[SD].calls[-1][0]
    assert (request.width, request.height, request.image_strength) == (512, 576, 0.8)
    assert request.init_image is not None and request.init_image.size == (512, 576)

    response = await post_i2i(
        client,
        account,
        files,
        init_image_mode="STEP_SCHEDULE",
        step_schedule_start=0.3,
        step_schedule_end=0.9,
    )
    assert response.status_code == 200, response.text
    request = fake_engines[SD].calls[-1][0]
    assert request.image_strength == pytest.approx(0.7)
    assert (request.step_schedule_start, request.step_schedule_end) == (0.3, 0.9)


async def test_multipart_prompts_fold_by_index(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/image-to-image",
        headers=account.headers,
        files={"init_image": noise_png(512, 512)},
        data={
            "text_prompts[5][text]": "second",
            "text_prompts[5][weight]": "-0.9",
            "text_prompts[0][text]": "replaced",
            "steps": "10",
        }
        | {"text_prompts[0][text]": "first"},
    )
    assert response.status_code == 200, response.text
    prompts = fake_engines[SD].calls[-1][0].prompts
    assert [(pr.text, pr.weight) for pr in prompts] == [("first", 1.0), ("second", -0.9)]


@pytest.mark.parametrize(
    ("files", "name", "fragment"),
    [
        ({}, "bad_request", "init_image: is required"),
        ({"init_image": b""}, "invalid_file_size", "empty"),
        ({"init_image": b"just some text, not an image"}, "invalid_mime_type", "init_image"),
        ({"init_image": noise_png(512, 512)[:300]}, "bad_request", "corrupt"),
        (
            {"init_image": ("a.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")},
            "invalid_mime_type",
            "init_image",
        ),
        ({"init_image": noise_png(500, 512)}, "invalid_height_or_width", "init_image"),
    ],
)
async def test_bad_init_images(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    files: dict[str, object],
    name: str,
    fragment: str,
) -> None:
    message = error(await post_i2i(client, account, files), 400, name)
    assert fragment in message
    assert services.billing.available_credits(account.org_id) == 50


async def test_decompression_bomb_is_refused(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    bomb = png_bytes(Image.new("L", (8192, 8192)))  # 64 MP of zeros compresses to ~70 KB
    message = error(
        await post_i2i(client, account, {"init_image": bomb}), 400, "invalid_image_dimensions"
    )
    assert "8192x8192" in message


async def test_json_body_on_multipart_route_is_400(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/image-to-image", headers=account.headers, json={"a": 1}
    )
    assert "multipart/form-data" in error(response, 400, "bad_request")


# -- masking --------------------------------------------------------------------------


async def post_mask(
    client: httpx.AsyncClient, account: TestAccount, files: dict[str, object], **fields: object
) -> httpx.Response:
    return await client.post(
        f"/v1/generation/{INPAINT}/image-to-image/masking",
        headers=account.headers,
        files=files,  # type: ignore[arg-type]
        data=i2i_data(**fields),
    )


async def test_mask_sources(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    init = noise_png(512, 512)
    white = mask_png(512, 512, box=(0, 0, 256, 512))
    response = await post_mask(
        client, account, {"init_image": init, "mask_image": white}, mask_source="MASK_IMAGE_WHITE"
    )
    assert response.status_code == 200, response.text
    mask = fake_engines[INPAINT].calls[-1][0].mask
    assert mask is not None and mask.getpixel((10, 10)) == 255 and mask.getpixel((300, 10)) == 0

    await post_mask(
        client, account, {"init_image": init, "mask_image": white}, mask_source="MASK_IMAGE_BLACK"
    )
    mask = fake_engines[INPAINT].calls[-1][0].mask
    assert mask is not None and mask.getpixel((10, 10)) == 0 and mask.getpixel((300, 10)) == 255

    rgba = Image.new("RGBA", (512, 512), (10, 20, 30, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 100, 100))
    await post_mask(
        client, account, {"init_image": png_bytes(rgba)}, mask_source="INIT_IMAGE_ALPHA"
    )
    request = fake_engines[INPAINT].calls[-1][0]
    assert request.mask is not None
    assert request.mask.getpixel((5, 5)) == 255 and request.mask.getpixel((200, 200)) == 0
    assert request.init_image is not None and request.init_image.mode == "RGB"


@pytest.mark.parametrize(
    ("files", "fields", "name"),
    [
        ({"init_image": noise_png(512, 512)}, {}, "bad_request"),
        (
            {"init_image": noise_png(512, 512)},
            {"mask_source": "MASK_IMAGE_WHITE"},
            "invalid_mask_image",
        ),
        (
            {"init_image": noise_png(512, 512)},
            {"mask_source": "INIT_IMAGE_ALPHA"},
            "invalid_mask_image",
        ),
        (
            {"init_image": noise_png(512, 512), "mask_image": noise_png(512, 576)},
            {"mask_source": "MASK_IMAGE_BLACK"},
            "invalid_image_dimensions",
        ),
        (
            {"init_image": noise_png(512, 512), "mask_image": noise_png(512, 512)},
            {"mask_source": "SOMETHING"},
            "bad_request",
        ),
    ],
)
async def test_bad_masking_requests(
    client: httpx.AsyncClient,
    account: TestAccount,
    files: dict[str, object],
    fields: dict[str, object],
    name: str,
) -> None:
    error(await post_mask(client, account, files, **fields), 400, name)


# -- upscale --------------------------------------------------------------------------


async def post_upscale(
    client: httpx.AsyncClient, account: TestAccount, image: bytes, **fields: object
) -> httpx.Response:
    return await client.post(
        f"/v1/generation/{ESRGAN}/image-to-image/upscale",
        headers={**account.headers, "Accept": "image/png"},
        files={"image": image},
        data={k: str(v) for k, v in fields.items()},
    )


@pytest.mark.parametrize(
    ("size", "fields", "expected"),
    [((512, 256), {"width": 1024}, (1024, 512)), ((300, 200), {"height": 1000}, (1500, 1000))],
)
async def test_upscale_sizes(
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
    size: tuple[int, int],
    fields: dict[str, object],
    expected: tuple[int, int],
) -> None:
    response = await post_upscale(client, account, noise_png(*size), **fields)
    assert response.status_code == 200, response.text
    request = fake_engines[ESRGAN].calls[-1][0]
    assert (request.width, request.height) == expected


@pytest.mark.parametrize(
    ("size", "fields", "name"),
    [
        ((512, 512), {"width": 256}, "bad_request"),
        ((1536, 1536), {}, "invalid_pixel_count"),
    ],
)
async def test_bad_upscale_requests(
    client: httpx.AsyncClient,
    account: TestAccount,
    size: tuple[int, int],
    fields: dict[str, object],
    name: str,
) -> None:
    error(await post_upscale(client, account, noise_png(*size), **fields), 400, name)
