"""The web studio in a real browser against a real `easel serve` on the sandbox.

Each test saves a screenshot under `tests/browser/screenshots/` (a build artefact).
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    GENERATION_TIMEOUT_MS,
    PHONE,
    newest_job,
    screenshot,
    sign_in,
    wait_for_result,
)
from tests.integration.conftest import RunningServer

# The fewest steps v1 accepts: the sandbox's images need no more.
STEPS = "10"


def artifact(api: httpx.Client, job_id: object) -> bytes:
    response = api.get(f"/v1/generations/{job_id}/artifacts/0")
    assert response.status_code == 200, response.text
    return response.content


def balance_shown(page: Page, server: RunningServer) -> float:
    page.goto(f"{server.url}/studio#/account")
    shown = page.locator("#balance")
    shown.wait_for()
    return float(shown.inner_text().replace(",", ""))


def generate(page: Page, prompt: str, *, steps: str = STEPS) -> None:
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Steps").fill(steps)
    page.get_by_role("button", name="Generate").click()


def test_generate_watches_progress_to_100_and_the_balance_drops_by_the_charge(
    page: Page, studio_server: RunningServer, api: httpx.Client
) -> None:
    sign_in(page, studio_server)
    before = balance_shown(page, studio_server)
    page.get_by_role("link", name="Generate").click()

    generate(page, "a lighthouse at dusk")
    # the bar moves with the job's event stream while the request is still open
    expect(page.get_by_text("Job running")).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    wait_for_result(page)
    expect(page.locator("#progress-label")).to_have_text("100 %")
    expect(page.get_by_text("Job succeeded")).to_be_visible()
    job = newest_job(api)
    expect(page.locator(".result .seed")).to_have_text(f"Seed {job['parameters']['seeds'][0]}")  # type: ignore[index]
    expect(page.locator(".parameters")).to_contain_text("a lighthouse at dusk")
    screenshot(page, "generate")

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "generate-phone")

    charged = float(job["credits_charged"])  # type: ignore[arg-type]
    assert charged > 0
    after = balance_shown(page, studio_server)
    assert before - after == pytest.approx(charged)
    screenshot(page, "account")


def test_cancel_a_long_job(page: Page, studio_server: RunningServer, api: httpx.Client) -> None:
    sign_in(page, studio_server)
    generate(page, "a very long job", steps="150")
    expect(page.get_by_text("Job running")).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    page.get_by_role("button", name="Cancel").click()

    expect(page.get_by_text("Job cancelled")).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    expect(page.get_by_role("alert").filter(has_text="cancelled")).to_have_count(0)
    job = newest_job(api)
    assert job["status"] == "cancelled"
    assert job["credits_charged"] == 0
    screenshot(page, "cancel")


def test_paint_a_mask_and_inpaint(
    page: Page, studio_server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    init = Image.linear_gradient("L").resize((512, 512)).convert("RGB")
    init_path = tmp_path / "init.png"
    init.save(init_path)
    sign_in(page, studio_server)
    page.get_by_label("Operation").select_option("masking")
    page.get_by_label("Init image", exact=True).set_input_files(init_path)
    canvas = page.locator("canvas.mask-canvas")
    expect(canvas).to_be_visible()

    # paint a horizontal stroke across the middle, with the largest brush
    page.get_by_label("Brush size").fill("128")
    box = canvas.bounding_box()
    assert box is not None
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, middle)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.3 + 0.04 * step), middle)
    page.mouse.up()
    generate(page, "a window in the wall")
    wait_for_result(page)
    screenshot(page, "inpaint")

    job = newest_job(api)
    assert job["parameters"]["operation"] == "masking"  # type: ignore[index]
    assert job["parameters"]["input_images"] == ["init_image", "mask"]  # type: ignore[index]
    result = Image.open(io.BytesIO(artifact(api, job["id"]))).convert("RGB")
    # the painted stripe is repainted; the unpainted top band comes back unchanged
    top = (0, 0, 512, 128)
    assert ImageChops.difference(result.crop(top), init.crop(top)).getbbox() is None
    stripe = (220, 240, 300, 270)
    assert ImageChops.difference(result.crop(stripe), init.crop(stripe)).getbbox() is not None


def test_rerun_from_the_gallery_with_its_seed_gives_the_same_bytes(
    page: Page, studio_server: RunningServer, api: httpx.Client
) -> None:
    made = api.post(
        "/v1/generation/stable-diffusion-v1-6/text-to-image",
        json={"text_prompts": [{"text": "a gallery piece"}], "steps": int(STEPS)},
    )
    assert made.status_code == 200, made.text
    original = newest_job(api)
    sign_in(page, studio_server)
    page.get_by_role("link", name="Gallery").click()
    first = page.locator(".card").first
    expect(first).to_contain_text("succeeded")
    first.click()
    expect(page.locator(".job-id")).to_have_text(str(original["id"]))
    expect(page.locator(".parameters").last).to_contain_text("a gallery piece")
    screenshot(page, "gallery-detail")

    page.get_by_role("button", name="Re-run with this seed").click()
    expect(page.get_by_label("Seed")).to_have_value(str(original["parameters"]["seeds"][0]))  # type: ignore[index]
    page.get_by_role("button", name="Generate").click()
    wait_for_result(page)
    rerun = newest_job(api)
    assert rerun["id"] != original["id"]
    assert artifact(api, rerun["id"]) == artifact(api, original["id"])
    page.get_by_role("link", name="Gallery").click()
    expect(page.locator(".card")).to_have_count(len(api.get("/v1/generations?limit=12").json()))
    screenshot(page, "gallery")


def test_create_and_revoke_a_key_then_it_is_refused(
    page: Page, studio_server: RunningServer, api: httpx.Client
) -> None:
    sign_in(page, studio_server)
    page.get_by_role("link", name="Account").click()
    page.get_by_label("New key name").fill("for a colleague")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator(".new-key").inner_text().strip()
    assert secret.startswith("sk-")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/v1/user/balance", headers=bearer).status_code == 200
    screenshot(page, "key-created")

    created = next(k for k in api.get("/v1/user/keys").json() if secret.startswith(k["prefix"]))
    page.get_by_role("button", name=f"Revoke key {created['prefix']}").click()
    expect(page.locator(f'tr[data-key="{created["id"]}"]')).to_contain_text("revoked")
    refused = api.get("/v1/user/balance", headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["name"] == "unauthorized"
    screenshot(page, "key-revoked")


def test_a_bad_key_shows_unauthorized_with_its_error_id(
    page: Page, studio_server: RunningServer
) -> None:
    page.goto(f"{studio_server.url}/studio")
    page.get_by_label("API key").fill("sk-not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert").filter(has_text="unauthorized")
    expect(alert).to_contain_text("Incorrect API key provided")
    expect(alert).to_contain_text("error id ")
    screenshot(page, "bad-key")


def test_a_bad_parameter_shows_stabilitys_error(page: Page, studio_server: RunningServer) -> None:
    sign_in(page, studio_server)
    generate(page, "too few steps", steps="5")
    alert = page.get_by_role("alert").filter(has_text="bad_request")
    expect(alert).to_contain_text("steps: Input should be greater than or equal to 10")
    expect(alert).to_contain_text("error id ")
    screenshot(page, "bad-parameter")
