"""Every studio page under axe-core, at the desktop and the phone size: no violation of
serious or critical impact (the issue's accessibility bar)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.accessibility import describe, serious_violations
from tests.browser.conftest import DESKTOP, PHONE, sign_in
from tests.images import noise_png
from tests.integration.conftest import RunningServer


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_page_has_serious_or_critical_axe_violations(
    page: Page,
    studio_server: RunningServer,
    api: httpx.Client,
    viewport: dict[str, int],
    tmp_path: Path,
) -> None:
    # a job of this key's for the gallery and its detail view (a fast upscale is quick)
    made = api.post(
        "/v2beta/stable-image/upscale/fast",
        files={"image": ("image.png", noise_png(64, 64))},
        headers={"Accept": "application/json"},
    )
    assert made.status_code == 200, made.text
    image = tmp_path / "init.png"
    image.write_bytes(noise_png(64, 64))
    page.set_viewport_size(viewport)
    report: list[str] = []

    def audit(where: str) -> None:
        violations = serious_violations(page)
        if violations:
            report.append(describe(where, violations))

    page.goto(f"{studio_server.url}/studio")
    page.get_by_label("API key").wait_for()
    audit("sign-in")

    sign_in(page, studio_server)
    expect(page.get_by_label("Engine")).to_be_visible()
    audit("generate (v1 text-to-image)")

    page.get_by_label("Operation").select_option("/v2beta/stable-image/generate/core")
    expect(page.get_by_label("Aspect ratio")).to_be_visible()
    audit("generate (v2beta core)")

    page.get_by_label("Operation").select_option("masking")
    page.get_by_label("Init image", exact=True).set_input_files(image)
    expect(page.locator("canvas.mask-canvas")).to_be_visible()
    audit("generate (masking, painting the mask)")

    page.get_by_role("link", name="Gallery").click()
    expect(page.locator(".card").first).to_be_visible()
    audit("gallery")

    page.locator(".card").first.click()
    expect(page.locator(".job-id")).to_be_visible()
    audit("gallery detail")

    page.get_by_role("link", name="Account").click()
    expect(page.locator("#balance")).to_be_visible()
    audit("account")

    page.get_by_role("link", name="Admin").click()
    page.locator("table button").first.click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    audit("admin (an organization open)")

    assert not report, "axe found serious or critical violations:\n" + "\n".join(report)
