"""v2beta control (sketch, structure, style, style-transfer) through the API, on fake engines:
sizes, parameters and their ranges, both Accept modes, credits, and every documented error."""

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
from tests.unit.api.test_jobs import eventually
from tests.unit.api.test_v2beta import credits, error, image_of, post

pytestmark = pytest.mark.usefixtures("fake_engines")

SKETCH, STRUCTURE = "stable-image-control-sketch", "stable-image-control-structure"
STYLE, TRANSFER = "stable-image-control-style", "stable-image-style-transfer"

# path, engine, the smallest valid call's fields and files, credits (reference §2)
CALLS = {
    "sketch": ("control/sketch", SKETCH, {"prompt": "a house"}, ("image",), 5),
    "structure": ("control/structure", STRUCTURE, {"prompt": "a house"}, ("image",), 5),
    "style": ("control/style", STYLE, {"prompt": "a house"}, ("image",), 5),
    "style-transfer": (
        "control/style-transfer",
        TRANSFER,
        {},
        ("init_image", "style_image"),
        8,
    ),
}
KINDS = {
    "sketch": "control-sketch",
    "structure": "control-structure",
    "style": "control-style",
    "style-transfer": "style-transfer",
}


def files_for(names: tuple[str, ...], width: int = 96, height: int = 64) -> dict[str, bytes]:
    return {name: noise_png(width, height, seed=i) for i, name in enumerate(names)}


@pytest.mark.parametrize("endpoint", list(CALLS))
async def test_each_endpoint_answers_bytes_runs_its_engine_and_charges_its_price(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
    endpoint: str,
) -> None:
    path, engine_id, data, names, price = CALLS[endpoint]
    response = await post(client, path, account, {**data, "seed": "42"}, files_for(names))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert (response.headers["finish-reason"], response.headers["seed"]) == ("SUCCESS", "42")
    assert image_of(response).format == "PNG"
    assert list(fake_engines) == [engine_id]
    (request,) = fake_engines[engine_id].calls[0]
    assert request.kind == KINDS[endpoint]
    assert credits(services, account) == pytest.approx(50 - price)


@pytest.mark.parametrize(
    ("endpoint", "output_format"),
    [("sketch", "jpeg"), ("structure", "webp"), ("style", "png"), ("style-transfer", "webp")],
)
async def test_json_mode_in_each_format(
    client: httpx.AsyncClient, account: TestAccount, endpoint: str, output_format: str
) -> None:
    path, _, data, names, _ = CALLS[endpoint]
    response = await post(
        client,
        path,
        account,
        {**data, "seed": "7", "output_format": output_format},
        files_for(names),
        accept="application/json",
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"application/json; type=image/{output_format}"
    assert "finish-reason" not in response.headers and "seed" not in response.headers
    body = response.json()
    assert (body["finish_reason"], body["seed"]) == ("SUCCESS", 7)
    image = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert image.format.lower() == output_format


@pytest.mark.parametrize("endpoint", ["sketch", "structure"])
async def test_sketch_and_structure_answer_at_the_input_size(
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
    endpoint: str,
) -> None:
    path, engine_id, _, _, _ = CALLS[endpoint]
    sketch = noise_png(150, 100)
    response = await post(
        client,
        path,
        account,
        {
            "prompt": "a red barn",
            "negative_prompt": "fog",
            "control_strength": "0.25",
            "style_preset": "line-art",
            "output_format": "jpeg",
        },
        {"image": sketch},
    )
    assert response.status_code == 200, response.text
    assert image_of(response).size == (150, 100)
    (request,) = fake_engines[engine_id].calls[0]
    assert (request.width, request.height) == (150, 100)
    assert request.init_image is not None and request.init_image.size == (150, 100)
    assert request.extras == {"control_strength": 0.25}
    assert request.style_preset == "line-art"
    assert [(p.text, p.weight) for p in request.prompts] == [("a red barn", 1.0), ("fog", -1.0)]


async def test_control_strength_defaults_to_0_7(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    await post(client, "control/sketch", account, {"prompt": "x"}, {"image": noise_png(64, 64)})
    (request,) = fake_engines[SKETCH].calls[0]
    assert request.extras == {"control_strength": 0.7}


@pytest.mark.parametrize(
    ("fields", "size", "strength"),
    [({}, (1024, 1024), 0.5), ({"aspect_ratio": "16:9", "fidelity": "0.9"}, (1344, 768), 0.9)],
)
async def test_style_renders_1_mp_at_the_aspect_ratio(
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
    fields: dict[str, str],
    size: tuple[int, int],
    strength: float,
) -> None:
    response = await post(
        client, "control/style", account, {"prompt": "x", **fields}, {"image": noise_png(80, 64)}
    )
    assert image_of(response).size == size
    (request,) = fake_engines[STYLE].calls[0]
    assert request.extras == {"style_strength": strength}
    assert request.reference_image is not None and request.reference_image.size == (80, 64)
    assert request.init_image is None


async def test_style_transfer_keeps_the_content_aspect_and_passes_its_strengths(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    defaults = await post(
        client,
        "control/style-transfer",
        account,
        files={"init_image": noise_png(96, 64), "style_image": noise_png(64, 160)},
    )
    # 3:2 content: SDXL's 3:2 size at about 1 MP; a square one gives 1024x1024 (§2)
    assert image_of(defaults).size == (1216, 832)
    (request,) = fake_engines[TRANSFER].calls[0]
    assert request.extras == {
        "style_strength": 1.0,
        "composition_fidelity": 0.9,
        "change_strength": 0.9,
    }
    assert request.init_image is not None and request.init_image.size == (1216, 832)
    assert request.reference_image is not None and request.reference_image.size == (64, 160)
    assert request.prompts[0].text == ""

    square = await post(
        client,
        "control/style-transfer",
        account,
        {
            "prompt": "in oils",
            "style_strength": "0.3",
            "composition_fidelity": "0",
            "change_strength": "0.1",
        },
        {"init_image": noise_png(64, 64), "style_image": noise_png(64, 64)},
    )
    assert image_of(square).size == (1024, 1024)
    (request,) = fake_engines[TRANSFER].calls[1]
    assert request.extras == {
        "style_strength": 0.3,
        "composition_fidelity": 0.0,
        "change_strength": 0.1,
    }


@pytest.mark.parametrize(
    ("endpoint", "fields", "bad"),
    [
        ("sketch", {"control_strength": "1.5"}, "control_strength"),
        ("structure", {"control_strength": "-0.1"}, "control_strength"),
        ("style", {"fidelity": "2"}, "fidelity"),
        ("style", {"aspect_ratio": "3:1"}, "aspect_ratio"),
        ("style-transfer", {"change_strength": "0.05"}, "change_strength"),
        ("style-transfer", {"composition_fidelity": "1.1"}, "composition_fidelity"),
        ("style-transfer", {"style_strength": "strong"}, "style_strength"),
        ("sketch", {"seed": "4294967295"}, "seed"),
        ("structure", {"style_preset": "watercolour"}, "style_preset"),
        ("style-transfer", {"output_format": "gif"}, "output_format"),
    ],
)
async def test_out_of_range_parameters_are_400_and_free(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    endpoint: str,
    fields: dict[str, str],
    bad: str,
) -> None:
    path, _, data, names, _ = CALLS[endpoint]
    response = await post(client, path, account, {**data, **fields}, files_for(names))
    (problem,) = error(response, 400, "bad_request")
    assert problem.startswith(f"{bad}:")
    assert credits(services, account) == 50


async def test_the_ends_of_each_range_are_accepted(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    for endpoint, fields in [
        ("sketch", {"control_strength": "0"}),
        ("structure", {"control_strength": "1"}),
        ("style", {"fidelity": "0"}),
        ("style-transfer", {"change_strength": "1", "style_strength": "0"}),
    ]:
        path, _, data, names, _ = CALLS[endpoint]
        response = await post(client, path, account, {**data, **fields}, files_for(names))
        assert response.status_code == 200, (endpoint, response.text)


@pytest.mark.parametrize("endpoint", ["sketch", "structure", "style"])
async def test_a_prompt_is_required_except_for_style_transfer(
    client: httpx.AsyncClient, account: TestAccount, endpoint: str
) -> None:
    path, _, _, names, _ = CALLS[endpoint]
    response = await post(client, path, account, {}, files_for(names))
    assert error(response, 400, "bad_request") == ["prompt: is required"]


@pytest.mark.parametrize(
    ("endpoint", "files", "missing"),
    [
        ("sketch", (), "image"),
        ("style", (), "image"),
        ("style-transfer", ("init_image",), "style_image"),
        ("style-transfer", ("style_image",), "init_image"),
    ],
)
async def test_a_missing_image_is_named(
    client: httpx.AsyncClient,
    account: TestAccount,
    endpoint: str,
    files: tuple[str, ...],
    missing: str,
) -> None:
    path, _, data, _, _ = CALLS[endpoint]
    response = await post(client, path, account, data, files_for(files))
    assert error(response, 400, "bad_request") == [f"{missing}: is required"]


@pytest.mark.parametrize(
    ("endpoint", "field", "size"),
    [
        ("sketch", "image", (63, 200)),  # a side under 64
        ("structure", "image", (400, 100)),  # 4:1
        ("style", "image", (64, 170)),  # 1:2.66
        ("style-transfer", "init_image", (330, 128)),  # 2.58:1
        ("style-transfer", "style_image", (40, 200)),
    ],
)
async def test_image_limits_are_invalid_image_dimensions(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    endpoint: str,
    field: str,
    size: tuple[int, int],
) -> None:
    path, _, data, names, _ = CALLS[endpoint]
    files = files_for(names) | {field: noise_png(*size)}
    response = await post(client, path, account, data, files)
    (problem,) = error(response, 400, "invalid_image_dimensions")
    assert problem.startswith(f"{field}:") and f"got {size[0]}x{size[1]}" in problem
    assert credits(services, account) == 50


async def test_the_style_image_of_a_transfer_may_have_any_aspect(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    files = {"init_image": noise_png(64, 64), "style_image": noise_png(300, 64)}
    response = await post(client, "control/style-transfer", account, files=files)
    assert response.status_code == 200, response.text


async def test_a_corrupt_image_is_refused(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post(
        client, "control/structure", account, {"prompt": "x"}, {"image": b"not an image"}
    )
    assert error(response, 400, "invalid_mime_type")[0].startswith("image:")


async def test_a_file_part_named_init_image_needs_no_filename(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.post(
        "/v2beta/stable-image/control/style-transfer",
        headers=account.headers,
        files={
            "init_image": (None, noise_png(64, 64), "image/png"),
            "style_image": (None, noise_png(64, 64), "image/png"),
        },
    )
    assert response.status_code == 200, response.text


async def test_validation_comes_before_authentication(client: httpx.AsyncClient) -> None:
    bogus = {"Authorization": "Bearer sk-not-a-key"}
    image = {"image": noise_png(64, 64)}
    bad = await post(client, "control/sketch", None, {"control_strength": "9"}, image, **bogus)
    assert len(error(bad, 400, "bad_request")) == 2  # prompt and control_strength
    good = await post(client, "control/sketch", None, {"prompt": "x"}, image, **bogus)
    error(good, 401, "unauthorized")


async def test_an_organization_the_key_may_not_use_is_403(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post(
        client,
        "control/style",
        account,
        {"prompt": "x"},
        {"image": noise_png(64, 64)},
        Organization="org-not-mine",
    )
    error(response, 403, "permission_denied")
    assert credits(services, account) == 50


async def test_a_body_over_10_mib_is_413(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post(
        client,
        "control/style-transfer",
        account,
        files={"init_image": b"0" * (10 * 2**20 + 1), "style_image": noise_png(64, 64)},
    )
    error(response, 413, "payload_too_large")


@pytest.mark.parametrize("settings_overrides", [{"safety": {"blocked_terms": ["forbidden"]}}])
async def test_a_filtered_prompt_is_422_and_free(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await post(
        client,
        "control/style-transfer",
        account,
        {"prompt": "forbidden fruit"},
        files_for(("init_image", "style_image")),
    )
    assert error(response, 422, "invalid_prompts") == ["prompt: contains filtered words"]
    assert credits(services, account) == 50


@pytest.mark.parametrize(
    "settings_overrides", [{"rate_limit": {"requests": 1, "window_seconds": 10}}]
)
async def test_the_rate_limit_answers_429(client: httpx.AsyncClient, account: TestAccount) -> None:
    image = {"image": noise_png(64, 64)}
    assert (await post(client, "control/sketch", account, {"prompt": "x"}, image)).is_success
    limited = await post(client, "control/sketch", account, {"prompt": "x"}, image)
    error(limited, 429, "rate_limit_exceeded")


async def test_a_failed_generation_is_500_and_free(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    engine = FakeEngine(services.engines.spec(STRUCTURE))
    engine.fail_with = EngineError("the fake engine failed")
    fake_engines[STRUCTURE] = engine
    response = await post(
        client, "control/structure", account, {"prompt": "x"}, {"image": noise_png(64, 64)}
    )
    error(response, 500, "server_error")
    assert credits(services, account) == 50


async def test_cancel_mid_run_charges_nothing(
    client: httpx.AsyncClient, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    account = make_account(services.accounts, services.billing, credits=20)
    engine = FakeEngine(services.engines.spec(TRANSFER), steps_per_call=4)
    engine.gate = threading.Event()
    fake_engines[TRANSFER] = engine
    call = asyncio.create_task(
        post(
            client,
            "control/style-transfer",
            account,
            files=files_for(("init_image", "style_image")),
            **{"Idempotency-Key": "transfer-1"},
        )
    )
    await eventually(engine.started.is_set)
    cancelled = await client.delete("/v1/generation/transfer-1", headers=account.headers)
    assert cancelled.status_code == 200, cancelled.text
    engine.gate.set()
    response = await asyncio.wait_for(call, 10)
    error(response, 409, "cancelled")
    assert credits(services, account) == 20
