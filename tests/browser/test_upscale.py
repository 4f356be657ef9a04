"""The v2beta upscalers from the studio's operation picker: fast answers at once,
creative answers an id whose result the studio polls at /v2beta/results/{id}."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.accessibility import describe, serious_violations
from tests.browser.conftest import (
    GENERATION_TIMEOUT_MS,
    newest_job,
    screenshot,
    sign_in,
    wait_for_result,
)
from tests.images import noise_png
from tests.integration.conftest import RunningServer


def shown_size(page: Page) -> list[int]:
    size: list[int] = page.locator(".result img").first.evaluate(
        "image => [image.naturalWidth, image.naturalHeight]"
    )
    return size


def open_upscaler(
    page: Page, server: RunningServer, tmp_path: Path, name: str, size: tuple[int, int]
) -> Path:
    """Sign in and pick the v2beta upscaler `name`; the small image to give it."""
    small = tmp_path / "small.png"
    small.write_bytes(noise_png(*size))
    sign_in(page, server)
    page.get_by_label("Operation").select_option(label=f"v2beta upscale {name}")
    return small


def test_fast_upscale_shows_the_image_four_times_larger(
    page: Page, studio_server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    small = open_upscaler(page, studio_server, tmp_path, "fast", (64, 48))
    # fast takes only the image: no prompt, no seed
    expect(page.get_by_label("Prompt", exact=True)).to_be_hidden()
    expect(page.get_by_label("Seed")).to_be_hidden()
    page.get_by_label("Init image", exact=True).set_input_files(small)
    page.get_by_role("button", name="Generate").click()

    wait_for_result(page)
    expect(page.get_by_text("Job succeeded")).to_be_visible()
    assert shown_size(page) == [256, 192]
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    job = newest_job(api)
    assert job["kind"] == "stable-image.upscale-fast"
    assert float(job["credits_charged"]) == pytest.approx(2)  # type: ignore[arg-type]
    violations = serious_violations(page)
    assert not violations, describe("the upscaled result", violations)
    screenshot(page, "upscale-fast")


def test_creative_upscale_is_polled_while_it_runs_and_can_be_cancelled(
    page: Page, studio_server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    # Creative upscaling (tiled SDXL to 3152x3152) takes minutes on a shared CPU, so this
    # follows it while it runs and cancels it; the fast test covers showing a v2beta image.
    small = open_upscaler(page, studio_server, tmp_path, "creative", (64, 64))
    creativity = page.get_by_label("Creativity")
    expect(creativity).to_have_value("0.3")  # the operation's default, from the API's schema
    creativity.fill("0.4")
    page.get_by_label("Prompt", exact=True).fill("a weathered stone wall")
    page.get_by_label("Init image", exact=True).set_input_files(small)
    with page.expect_response(
        lambda r: "/v2beta/results/" in r.url and r.status == 202, timeout=GENERATION_TIMEOUT_MS
    ) as polled:
        page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("Job running")).to_be_visible()
    expect(page.locator("#progress-label")).to_have_text(re.compile(r"^\d+ %$"))
    screenshot(page, "upscale-creative-running")

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Job cancelled")).to_be_visible(timeout=GENERATION_TIMEOUT_MS)
    expect(page.get_by_role("alert").filter(has_text="cancelled")).to_have_count(0)
    job = newest_job(api)
    assert job["kind"] == "stable-image.upscale-creative"
    assert job["parameters"]["creativity"] == pytest.approx(0.4)  # type: ignore[index]
    assert polled.value.url.endswith(f"/v2beta/results/{job['id']}")
    assert (job["status"], job["credits_charged"]) == ("cancelled", 0)
