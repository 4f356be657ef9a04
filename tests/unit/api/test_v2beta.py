"""v2beta stable-image through the API, on fake engines: the platform (multipart,
negotiation, errors, validation before auth), generate, upscale, async results, credits."""

from __future__ import annotations

import asyncio
import base64
import io
import threading

import httpx
import pytest
from PIL import Image

from easel.api.services import Services
from easel.errors import EngineError
from tests.factories import TestAccount, make_account
from tests.fakes import FakeEngine
from tests.images import noise_png
from tests.unit.api.test_forms import go_multipart, node_form_data

pytestmark = pytest.mark.usefixtures("fake_engines")

BASE = "/v2beta/stable-image"
Files = dict[str, bytes]


async def post(
    client: httpx.AsyncClient,
    path: str,
    account: TestAccount | None,
    data: dict[str, str] | None = None,
    files: Files | None = None,
    accept: str | None = None,
    **headers: str,
) -> httpx.Response:
    all_headers = {**(account.headers if account else {}), **headers}
    if accept is not None:
        all_headers["Accept"] = accept
    # an empty `none` file forces multipart, as Stability's own Python samples do
    parts = {"none": ("", b"")} | {k: ("image.png", v) for k, v in (files or {}).items()}
    return await client.post(f"{BASE}/{path}", headers=all_headers, data=data or {}, files=parts)


def error(response: httpx.Response, status: int, name: str) -> list[str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"id", "name", "errors"}, body
    assert body["name"] == name, body
    assert body["id"] == response.headers["x-request-id"]
    assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    return list(body["errors"])


def image_of(response: httpx.Response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


def credits(services: Services, account: TestAccount) -> float:
    return services.billing.available_credits(account.org_id)


# -- generate ---------------------------------------------------------------------------------


async def test_core_answers_png_bytes_with_headers_by_default(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    response = await post(client, "generate/core", account, {"prompt": "a lighthouse"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["finish-reason"] == "SUCCESS"
    image = image_of(response)
    # Core runs on SDXL, at SDXL's own size for 1:1 (Stability's Core answered 1536x1536)
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    (request,) = fake_engines["stable-image-core"].calls[0]
    assert int(response.headers["seed"]) == request.seeds[0]
    assert [(p.text, p.weight) for p in request.prompts] == [("a lighthouse", 1.0)]


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
async def test_json_mode_carries_the_image_and_facts_in_the_body(
    client: httpx.AsyncClient, account: TestAccount, output_format: str
) -> None:
    response = await post(
        client,
        "generate/sd3",
        account,
        {"prompt": "a fox", "seed": "77", "output_format": output_format, "aspect_ratio": "16:9"},
        accept="application/json",
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"application/json; type=image/{output_format}"
    assert "finish-reason" not in response.headers and "seed" not in response.headers
    body = response.json()
    assert set(body) == {"image", "finish_reason", "seed"}
    assert (body["finish_reason"], body["seed"]) == ("SUCCESS", 77)
    image = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert (image.format.lower(), image.size) == (output_format, (1344, 768))


@pytest.mark.parametrize("output_format", ["jpeg", "webp"])
async def test_bytes_mode_in_each_format(
    client: httpx.AsyncClient, account: TestAccount, output_format: str
) -> None:
    response = await post(
        client, "generate/ultra", account, {"prompt": "x", "output_format": output_format}
    )
    assert response.headers["content-type"] == f"image/{output_format}"
    image = image_of(response)
    assert (image.format.lower(), image.size) == (output_format, (1024, 1024))


async def test_ultra_with_an_image_is_image_to_image(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    response = await post(
        client,
        "generate/ultra",
        account,
        {"prompt": "a castle", "negative_prompt": "fog", "strength": "0.6"},
        {"image": noise_png(640, 480)},
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-ultra"].calls[0]
    assert request.kind == "image-to-image"
    assert request.denoise_strength == pytest.approx(0.6)
    assert [(p.text, p.weight) for p in request.prompts] == [("a castle", 1.0), ("fog", -1.0)]
    assert image_of(response).size == (request.width, request.height) == (1152, 896)


async def test_ultra_image_and_strength_go_together(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    no_strength = await post(
        client, "generate/ultra", account, {"prompt": "x"}, {"image": noise_png(256, 256)}
    )
    assert "strength: is required when image is given" in error(no_strength, 400, "bad_request")
    no_image = await post(client, "generate/ultra", account, {"prompt": "x", "strength": "0.5"})
    assert "image: is required when strength is given" in error(no_image, 400, "bad_request")


@pytest.mark.parametrize(
    "model", ["sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash", "sd3-turbo"]
)
async def test_sd3_runs_the_model_asked_for(
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
    model: str,
) -> None:
    response = await post(client, "generate/sd3", account, {"prompt": "x", "model": model})
    assert response.status_code == 200, response.text
    assert list(fake_engines) == [model]


async def test_sd3_image_to_image_lists_every_problem(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await post(
        client,
        "generate/sd3",
        account,
        {"prompt": "x", "mode": "image-to-image", "aspect_ratio": "1:1"},
        {"image": noise_png(256, 256)},
    )
    problems = error(response, 400, "bad_request")
    assert problems == [
        "strength: is required when mode is image-to-image",
        "aspect_ratio: is only valid when mode is text-to-image",
    ]


async def test_every_invalid_field_is_its_own_error(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await post(
        client,
        "generate/sd3",
        account,
        {"prompt": "x", "seed": "4294967295", "aspect_ratio": "7:3", "cfg_scale": "11"},
    )
    problems = error(response, 400, "bad_request")
    assert len(problems) == 3
    assert {p.split(":")[0] for p in problems} == {"seed", "aspect_ratio", "cfg_scale"}


async def test_a_missing_prompt_is_named(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post(client, "generate/core", account, {"prompt": ""})
    assert error(response, 400, "bad_request") == ["prompt: is required"]


async def test_validation_comes_before_authentication(client: httpx.AsyncClient) -> None:
    bogus = {"Authorization": "Bearer sk-not-a-key"}
    bad = await post(client, "generate/core", None, {"aspect_ratio": "7:3"}, **bogus)
    assert error(bad, 400, "bad_request")
    good = await post(client, "generate/core", None, {"prompt": "x"}, **bogus)
    error(good, 401, "unauthorized")


async def test_a_file_part_without_a_filename_is_an_image(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    content_type, body = go_multipart([("image", noise_png(64, 64)), ("output_format", "webp")])
    response = await client.post(
        f"{BASE}/upscale/fast",
        headers={**account.headers, "Content-Type": content_type},
        content=body,
    )
    assert response.status_code == 200, response.text
    assert image_of(response).size == (256, 256)


async def test_an_unsupported_accept_is_refused(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post(client, "generate/core", account, {"prompt": "x"}, accept="text/html")
    assert "accept: must be one of" in error(response, 400, "bad_request")[0]
    assert credits(services, account) == 50


async def test_json_bodies_are_refused(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await client.post(
        f"{BASE}/generate/core", headers=account.headers, json={"prompt": "x"}
    )
    assert "content-type: must be multipart/form-data" in error(response, 400, "bad_request")[0]


async def test_a_body_over_10_mib_is_413(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post(
        client, "generate/ultra", account, {"prompt": "x"}, {"image": b"0" * (10 * 2**20 + 1)}
    )
    error(response, 413, "payload_too_large")


@pytest.mark.parametrize("settings_overrides", [{"safety": {"blocked_terms": ["forbidden"]}}])
async def test_a_filtered_prompt_is_422_and_free(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post(
        client, "generate/core", account, {"prompt": "ok", "negative_prompt": "Forbidden"}
    )
    assert error(response, 422, "invalid_prompts") == ["negative_prompt: contains filtered words"]
    assert credits(services, account) == 50


@pytest.mark.parametrize("settings_overrides", [{"safety": {"output_flag_terms": ["secret"]}}])
async def test_a_flagged_output_is_content_filtered_and_billed(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    clean = await post(client, "generate/core", account, {"prompt": "a dog", "seed": "5"})
    flagged = await post(client, "generate/core", account, {"prompt": "a secret dog", "seed": "5"})
    assert clean.headers["finish-reason"] == "SUCCESS"
    assert flagged.headers["finish-reason"] == "CONTENT_FILTERED"
    assert flagged.content != clean.content
    assert credits(services, account) == 50 - 2 * 3


async def test_prices_are_per_call(
    client: httpx.AsyncClient, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    rich = make_account(services.accounts, services.billing, credits=200)
    expected = {
        ("generate/ultra", ""): 8,
        ("generate/core", ""): 3,
        ("generate/sd3", "sd3.5-large"): 6.5,
        ("generate/sd3", "sd3.5-large-turbo"): 4,
        ("generate/sd3", "sd3.5-medium"): 3.5,
    }
    for (path, model), price in expected.items():
        before = credits(services, rich)
        data = {"prompt": "x", **({"model": model} if model else {})}
        assert (await post(client, path, rich, data)).status_code == 200
        assert before - credits(services, rich) == pytest.approx(price), (path, model)


async def test_a_failed_generation_is_not_charged(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    engine = FakeEngine(services.engines.spec("stable-image-core"))
    engine.fail_with = EngineError("the fake engine failed")
    fake_engines["stable-image-core"] = engine
    response = await post(client, "generate/core", account, {"prompt": "x"})
    error(response, 500, "server_error")
    assert credits(services, account) == 50


async def test_an_idempotent_retry_is_not_charged_twice(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    first = await post(
        client, "generate/core", account, {"prompt": "x"}, **{"Idempotency-Key": "v2-1"}
    )
    again = await post(
        client, "generate/core", account, {"prompt": "x"}, **{"Idempotency-Key": "v2-1"}
    )
    assert first.content == again.content
    assert credits(services, account) == 50 - 3


# -- upscale ----------------------------------------------------------------------------------


async def test_upscale_fast_is_4x_and_checks_its_input(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post(client, "upscale/fast", account, files={"image": noise_png(100, 60)})
    assert image_of(response).size == (400, 240)
    assert credits(services, account) == 50 - 2
    small = await post(client, "upscale/fast", account, files={"image": noise_png(20, 100)})
    error(small, 400, "invalid_image_dimensions")
    missing = await post(client, "upscale/fast", account)
    assert error(missing, 400, "bad_request") == ["image: is required"]


async def test_upscale_conservative_needs_a_prompt_and_passes_creativity(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    no_prompt = await post(
        client, "upscale/conservative", account, files={"image": noise_png(64, 64)}
    )
    assert error(no_prompt, 400, "bad_request") == ["prompt: is required"]
    too_creative = await post(
        client,
        "upscale/conservative",
        account,
        {"prompt": "x", "creativity": "0.6"},
        {"image": noise_png(64, 64)},
    )
    assert error(too_creative, 400, "bad_request")[0].startswith("creativity:")
    response = await post(
        client,
        "upscale/conservative",
        account,
        {"prompt": "x", "creativity": "0.25", "output_format": "jpeg"},
        {"image": noise_png(512, 256)},
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["upscale-conservative"].calls[0]
    assert (request.kind, request.extras["creativity"]) == ("upscale", 0.25)
    # Stability's 512x512 came back 3112x3112: that many pixels, the input's aspect
    assert image_of(response).size == (4400, 2200)


async def test_creative_upscale_is_asynchronous(
    client: httpx.AsyncClient, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    account = make_account(services.accounts, services.billing, credits=100)
    engine = FakeEngine(services.engines.spec("upscale-creative"), steps_per_call=4)
    engine.gate = threading.Event()
    fake_engines["upscale-creative"] = engine
    submitted = await post(
        client,
        "upscale/creative",
        account,
        {"prompt": "x", "output_format": "jpeg"},
        {"image": noise_png(128, 128)},
        accept="image/*",
    )
    assert submitted.status_code == 200, submitted.text
    (job_id,) = submitted.json().values()
    assert len(job_id) == 64

    results = f"/v2beta/results/{job_id}"
    await asyncio.sleep(0.05)
    running = await client.get(results, headers=account.headers)
    assert running.status_code == 202, running.text
    assert running.json() == {"id": job_id, "status": "in-progress", "progress": 0.0}

    other = make_account(services.accounts, services.billing, email="other@example.com")
    error(await client.get(results, headers=other.headers), 404, "generation_not_found")

    engine.gate.set()
    for _ in range(200):
        done = await client.get(results, headers=account.headers)
        if done.status_code == 200:
            break
        await asyncio.sleep(0.02)
    assert done.headers["content-type"] == "image/jpeg"
    assert image_of(done).size == (3152, 3152)
    legacy = await client.get(
        f"{BASE}/upscale/creative/result/{job_id}",
        headers={**account.headers, "Accept": "application/json"},
    )
    assert legacy.json()["finish_reason"] == "SUCCESS"
    assert base64.b64decode(legacy.json()["image"]) == done.content
    assert credits(services, account) == 100 - 60


async def test_results_of_an_unknown_id_is_404(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.get("/v2beta/results/" + "0" * 64, headers=account.headers)
    assert error(response, 404, "generation_not_found") == [
        "id: the generation either does not exist or has expired."
    ]


async def test_a_bare_key_without_bearer_is_accepted(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    """Stability's own cURL samples for v2beta send the key without `Bearer `."""
    response = await client.post(
        f"{BASE}/generate/core",
        headers={"Authorization": account.secret},
        files={"prompt": (None, "x")},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "settings_overrides", [{"rate_limit": {"requests": 2, "window_seconds": 10}}]
)
async def test_the_rate_limit_is_shared_with_v1_and_answers_in_v2beta_shape(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 200
    assert (await post(client, "generate/core", account, {"prompt": "x"})).status_code == 200
    limited = await post(client, "generate/core", account, {"prompt": "x"})
    assert error(limited, 429, "rate_limit_exceeded")
    assert int(limited.headers["retry-after"]) > 0


async def test_node_form_data_parts_work(client: httpx.AsyncClient, account: TestAccount) -> None:
    """The TS examples' `form-data`: no filename, `application/octet-stream`."""
    content_type, body = node_form_data(
        [("image", noise_png(64, 64)), ("prompt", "a cat"), ("output_format", "jpeg")]
    )
    response = await client.post(
        f"{BASE}/upscale/conservative",
        headers={**account.headers, "Content-Type": content_type},
        content=body,
    )
    assert response.status_code == 200, response.text
