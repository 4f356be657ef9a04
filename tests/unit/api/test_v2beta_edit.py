"""v2beta stable-image edit through the API, on fake engines: erase, inpaint, outpaint,
search-and-replace, search-and-recolor, remove-background — fields, defaults, limits,
output sizes, prices, both Accept modes, every error status of §2, the field-name traps."""

from __future__ import annotations

import asyncio
import base64
import io
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

from easel.api.services import Services
from easel.errors import EngineError
from tests.factories import TestAccount, make_account
from tests.fakes import FakeEngine, noise
from tests.images import mask_png, noise_png, png_bytes
from tests.unit.api.test_jobs import eventually
from tests.unit.api.test_v2beta import credits, error, image_of, post

pytestmark = pytest.mark.usefixtures("fake_engines")

IMAGE = noise_png(160, 120)
MASK = mask_png(160, 120, box=(40, 30, 100, 90))

# path, form fields, files, engine id, price, output size
CASES = [
    ("erase", {}, {"image": IMAGE, "mask": MASK}, "stable-image-erase", 5, (160, 120)),
    (
        "inpaint",
        {"prompt": "a cat"},
        {"image": IMAGE, "mask": MASK},
        "stable-image-inpaint",
        5,
        (160, 120),
    ),
    (
        "outpaint",
        {"left": "40", "down": "8"},
        {"image": IMAGE},
        "stable-image-outpaint",
        4,
        (200, 128),
    ),
    (
        "search-and-replace",
        {"prompt": "a dog", "search_prompt": "cat"},
        {"image": IMAGE},
        "stable-image-search-and-replace",
        5,
        (160, 120),
    ),
    (
        "search-and-recolor",
        {"prompt": "red", "select_prompt": "cat"},
        {"image": IMAGE},
        "stable-image-search-and-recolor",
        5,
        (160, 120),
    ),
    ("remove-background", {}, {"image": IMAGE}, "stable-image-remove-background", 5, (160, 120)),
]
IDS = [case[0] for case in CASES]


def rich(services: Services) -> TestAccount:
    return make_account(services.accounts, services.billing, credits=200, email="r@example.com")


# a format other than png for each service, asked for in JSON mode and then as bytes
OTHER_FORMAT = {
    "erase": "jpeg",
    "inpaint": "webp",
    "outpaint": "jpeg",
    "search-and-replace": "webp",
    "search-and-recolor": "jpeg",
    "remove-background": "webp",
}


@pytest.mark.parametrize(("path", "data", "files", "engine", "price", "size"), CASES, ids=IDS)
async def test_each_edit_answers_both_accept_modes_at_its_size_and_charges_its_price(
    client: httpx.AsyncClient,
    services: Services,
    fake_engines: dict[str, FakeEngine],
    path: str,
    data: dict[str, str],
    files: dict[str, bytes],
    engine: str,
    price: float,
    size: tuple[int, int],
) -> None:
    account = rich(services)
    response = await post(client, f"edit/{path}", account, data, files)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["finish-reason"] == "SUCCESS"
    image = image_of(response)
    assert (image.format, image.size) == ("PNG", size)
    (request,) = fake_engines[engine].calls[0]
    assert int(response.headers["seed"]) == request.seeds[0]
    assert 200 - credits(services, account) == pytest.approx(price)

    fmt = OTHER_FORMAT[path]
    as_json = await post(
        client,
        f"edit/{path}",
        account,
        {**data, "output_format": fmt, "seed": "42"},
        files,
        accept="application/json",
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == f"application/json; type=image/{fmt}"
    assert "finish-reason" not in as_json.headers
    body = as_json.json()
    assert body["finish_reason"] == "SUCCESS"
    # remove-background has no seed field: the part is ignored, the seed is random
    assert (body["seed"] == 42) is (path != "remove-background")
    image = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert (image.format.lower(), image.size) == (fmt, size)

    as_bytes = await post(client, f"edit/{path}", account, {**data, "output_format": fmt}, files)
    assert as_bytes.headers["content-type"] == f"image/{fmt}"
    assert image_of(as_bytes).size == size
    assert 200 - credits(services, account) == pytest.approx(3 * price)


# -- what the engine is asked for ---------------------------------------------------------------


async def test_erase_needs_no_prompt_and_sends_the_mask_and_grow_mask(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    # the spec lists `prompt` as required for erase; the live server does not (§6.10)
    small_mask = mask_png(80, 60, box=(20, 15, 50, 45))  # resized to the image
    response = await post(client, "edit/erase", account, {}, {"image": IMAGE, "mask": small_mask})
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-erase"].calls[0]
    assert request.kind == "masking" and request.extras == {"grow_mask": 5}
    assert [(p.text, p.weight) for p in request.prompts] == [("", 1.0)]
    assert request.mask is not None and request.mask.size == (160, 120)
    mask = np.asarray(request.mask)
    assert mask[60, 70] == 255 and mask[5, 5] == 0


async def test_inpaint_takes_the_mask_from_the_alpha_channel_without_a_mask_part(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    image = noise(160, 120, 3)
    alpha = Image.new("L", image.size, 255)
    alpha.paste(0, (10, 10, 50, 50))  # transparent: repaint
    image.putalpha(alpha)
    response = await post(
        client,
        "edit/inpaint",
        account,
        {"prompt": "a cat", "negative_prompt": "fog", "grow_mask": "100", "style_preset": "anime"},
        {"image": png_bytes(image)},
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-inpaint"].calls[0]
    assert [(p.text, p.weight) for p in request.prompts] == [("a cat", 1.0), ("fog", -1.0)]
    assert (request.extras["grow_mask"], request.style_preset) == (100, "anime")
    mask = np.asarray(request.mask)
    assert mask[20, 20] == 255 and mask[100, 100] == 0
    assert request.init_image is not None and request.init_image.mode == "RGB"


async def test_a_mask_part_wins_over_the_alpha_channel(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    image = noise(160, 120, 3)
    image.putalpha(Image.new("L", image.size, 0))  # all transparent
    response = await post(
        client, "edit/erase", account, {}, {"image": png_bytes(image), "mask": MASK}
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-erase"].calls[0]
    assert np.asarray(request.mask)[5, 5] == 0


async def test_outpaint_pads_the_canvas_and_repaints_only_the_border(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    response = await post(
        client,
        "edit/outpaint",
        account,
        {"left": "16", "right": "8", "up": "4", "creativity": "0.2"},
        {"image": IMAGE},
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-outpaint"].calls[0]
    assert (request.width, request.height) == (184, 124)
    assert request.mask_strength == pytest.approx(0.6)
    assert [(p.text, p.weight) for p in request.prompts] == [("", 1.0)]  # prompt is optional
    canvas, mask = np.asarray(request.init_image), np.asarray(request.mask)
    original = np.asarray(Image.open(io.BytesIO(IMAGE)).convert("RGB"))
    assert (canvas[4:124, 16:176] == original).all()  # the input at its offset
    assert (mask[4:124, 16:176] == 0).all()
    assert (mask[:4] == 255).all() and (mask[:, :16] == 255).all() and (mask[:, 176:] == 255).all()


async def test_search_and_replace_sends_search_prompt_and_grow_mask(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    response = await post(
        client,
        "edit/search-and-replace",
        account,
        {"prompt": "a dog", "search_prompt": "the cat"},
        {"image": IMAGE},
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-search-and-replace"].calls[0]
    assert request.kind == "search-and-replace"
    assert request.extras == {"select_prompt": "the cat", "grow_mask": 3}
    assert request.mask is None and request.mask_strength == 1.0


async def test_search_and_recolor_sends_select_prompt_and_recolors_gently(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    response = await post(
        client,
        "edit/search-and-recolor",
        account,
        {"prompt": "bright red", "select_prompt": "the car", "grow_mask": "20"},
        {"image": IMAGE},
    )
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-image-search-and-recolor"].calls[0]
    assert request.kind == "search-and-recolor"
    assert request.extras == {"select_prompt": "the car", "grow_mask": 20}
    assert request.mask_strength < 1


@pytest.mark.parametrize("output_format", ["png", "webp"])
async def test_remove_background_keeps_the_alpha_channel(
    client: httpx.AsyncClient, account: TestAccount, output_format: str
) -> None:
    response = await post(
        client,
        "edit/remove-background",
        account,
        {"output_format": output_format},
        {"image": IMAGE},
    )
    assert response.status_code == 200, response.text
    image = image_of(response)
    assert (image.format.lower(), image.mode) == (output_format, "RGBA")
    alpha = np.asarray(image.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255


# -- errors ------------------------------------------------------------------------------------


INVALID = [
    # the field-name traps (§6.8): replace finds with search_prompt, recolor with select_prompt
    (
        "search-and-replace",
        {"prompt": "x", "select_prompt": "cat"},
        {"image": IMAGE},
        "search_prompt: is required",
    ),
    (
        "search-and-recolor",
        {"prompt": "x", "search_prompt": "cat"},
        {"image": IMAGE},
        "select_prompt: is required",
    ),
    ("inpaint", {}, {"image": IMAGE, "mask": MASK}, "prompt: is required"),
    ("search-and-replace", {"search_prompt": "cat"}, {"image": IMAGE}, "prompt: is required"),
    ("erase", {}, {"mask": MASK}, "image: is required"),
    ("remove-background", {}, {}, "image: is required"),
    ("erase", {}, {"image": IMAGE}, "mask: is required when image has no alpha channel"),
    ("inpaint", {"prompt": "x"}, {"image": IMAGE}, "mask: is required when image"),
    # grow_mask is 0-20 on erase and the searches, 0-100 on inpaint (§6.9)
    ("erase", {"grow_mask": "21"}, {"image": IMAGE, "mask": MASK}, "grow_mask:"),
    (
        "search-and-recolor",
        {"prompt": "x", "select_prompt": "y", "grow_mask": "21"},
        {"image": IMAGE},
        "grow_mask:",
    ),
    (
        "inpaint",
        {"prompt": "x", "grow_mask": "101"},
        {"image": IMAGE, "mask": MASK},
        "grow_mask:",
    ),
    # outpaint: creativity 0-1, sides 0-2000 and at least one of them
    ("outpaint", {"left": "1", "creativity": "1.1"}, {"image": IMAGE}, "creativity:"),
    ("outpaint", {"right": "2001"}, {"image": IMAGE}, "right:"),
    ("outpaint", {"bottom": "100"}, {"image": IMAGE}, "left, right, up, down: at least one"),
    # remove-background has no jpeg
    ("remove-background", {"output_format": "jpeg"}, {"image": IMAGE}, "output_format:"),
    ("erase", {"seed": "4294967295"}, {"image": IMAGE, "mask": MASK}, "seed:"),
]


async def test_invalid_requests_are_400_and_name_the_field(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    for path, data, files, problem in INVALID:
        response = await post(client, f"edit/{path}", account, data, files)
        problems = error(response, 400, "bad_request")
        assert any(p.startswith(problem) for p in problems), (path, problems)
    assert credits(services, account) == 50


OUT_OF_LIMITS = [
    ("erase", {}, noise(63, 200, 1)),  # a side under 64
    ("inpaint", {"prompt": "x"}, noise(64, 63, 1)),
    ("outpaint", {"up": "10"}, noise(400, 100, 1)),  # aspect beyond 2.5:1
    ("search-and-replace", {"prompt": "x", "search_prompt": "y"}, noise(100, 300, 1)),
    ("search-and-recolor", {"prompt": "x", "select_prompt": "y"}, noise(300, 100, 1)),
    # remove-background stops at 4 194 304 pixels (the others at 9 437 184)
    ("remove-background", {}, Image.new("RGB", (2049, 2048), "white")),
]


async def test_images_outside_the_limits_are_refused(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    for path, data, image in OUT_OF_LIMITS:
        files = {"image": png_bytes(image)}
        if path in ("erase", "inpaint"):
            files["mask"] = mask_png(*image.size, box=(0, 0, 10, 10))
        response = await post(client, f"edit/{path}", account, data, files)
        assert error(response, 400, "invalid_image_dimensions"), path
    assert credits(services, account) == 50


async def test_a_wide_image_is_fine_for_erase_and_inpaint(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Only outpaint and the searches limit the aspect ratio."""
    account = rich(services)
    files = {"image": noise_png(400, 100), "mask": mask_png(400, 100, box=(0, 0, 10, 10))}
    assert (await post(client, "edit/erase", account, {}, files)).status_code == 200
    inpainted = await post(client, "edit/inpaint", account, {"prompt": "x"}, files)
    assert inpainted.status_code == 200


async def test_validation_comes_before_authentication(client: httpx.AsyncClient) -> None:
    bogus = {"Authorization": "Bearer sk-not-a-key"}
    bad = await post(client, "edit/erase", None, {"grow_mask": "50"}, {"image": IMAGE}, **bogus)
    assert error(bad, 400, "bad_request")
    good = await post(client, "edit/erase", None, {}, {"image": IMAGE, "mask": MASK}, **bogus)
    error(good, 401, "unauthorized")


async def test_another_organization_is_403(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post(
        client,
        "edit/remove-background",
        account,
        {},
        {"image": IMAGE},
        Organization="org-not-mine",
    )
    error(response, 403, "permission_denied")


async def test_a_body_over_10_mib_is_413(client: httpx.AsyncClient, account: TestAccount) -> None:
    response = await post(
        client, "edit/inpaint", account, {"prompt": "x"}, {"image": b"0" * (10 * 2**20 + 1)}
    )
    error(response, 413, "payload_too_large")


@pytest.mark.parametrize("settings_overrides", [{"safety": {"blocked_terms": ["forbidden"]}}])
async def test_filtered_prompts_are_422_including_the_search_prompt(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    inpaint = await post(
        client, "edit/inpaint", account, {"prompt": "Forbidden"}, {"image": IMAGE, "mask": MASK}
    )
    assert error(inpaint, 422, "invalid_prompts") == ["prompt: contains filtered words"]
    search = await post(
        client,
        "edit/search-and-replace",
        account,
        {"prompt": "ok", "search_prompt": "forbidden thing"},
        {"image": IMAGE},
    )
    assert error(search, 422, "invalid_prompts") == ["search_prompt: contains filtered words"]
    recolor = await post(
        client,
        "edit/search-and-recolor",
        account,
        {"prompt": "ok", "select_prompt": "forbidden thing"},
        {"image": IMAGE},
    )
    assert error(recolor, 422, "invalid_prompts") == ["select_prompt: contains filtered words"]
    assert credits(services, account) == 50


@pytest.mark.parametrize(
    "settings_overrides", [{"rate_limit": {"requests": 1, "window_seconds": 10}}]
)
async def test_the_rate_limit_applies(client: httpx.AsyncClient, account: TestAccount) -> None:
    assert (
        await post(client, "edit/remove-background", account, {}, {"image": IMAGE})
    ).status_code == 200
    limited = await post(client, "edit/remove-background", account, {}, {"image": IMAGE})
    error(limited, 429, "rate_limit_exceeded")


async def test_a_failed_edit_is_500_and_not_charged(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    engine = FakeEngine(services.engines.spec("stable-image-outpaint"))
    engine.fail_with = EngineError("the fake engine failed")
    fake_engines["stable-image-outpaint"] = engine
    response = await post(client, "edit/outpaint", account, {"up": "8"}, {"image": IMAGE})
    error(response, 500, "server_error")
    assert credits(services, account) == 50


async def test_cancelling_a_running_edit_charges_nothing(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    engine = FakeEngine(services.engines.spec("stable-image-inpaint"))
    engine.gate = threading.Event()
    fake_engines["stable-image-inpaint"] = engine
    task = asyncio.create_task(
        post(
            client,
            "edit/inpaint",
            account,
            {"prompt": "x"},
            {"image": IMAGE, "mask": MASK},
            **{"Idempotency-Key": "edit-cancel"},
        )
    )
    await eventually(engine.started.is_set)
    cancelled = await client.delete("/v1/generation/edit-cancel", headers=account.headers)
    assert cancelled.status_code == 200
    engine.gate.set()
    response = await asyncio.wait_for(task, 10)
    error(response, 409, "cancelled")
    assert credits(services, account) == 50
