"""Browser fixtures: one real `easel serve` on the sandbox, and Debian's Chromium driven
by Playwright (its own browser download cannot run here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.integration.conftest import (
    MODELS_DIR_ENV,
    RunningServer,
    start_server,
    stop_server,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# A generation on a shared CI core can take a while; nothing waits longer than this.
GENERATION_TIMEOUT_MS = 240_000


@pytest.fixture(scope="package")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    models = os.environ.get(MODELS_DIR_ENV) or str(tmp_path_factory.mktemp("models"))
    server = start_server(
        tmp_path_factory.mktemp("studio") / "data",
        env={"EASEL_ENGINE__MODELS_DIR": models},
    )
    yield server
    stop_server(server)


# Package scope, not session: Playwright's sync API keeps its event loop marked as
# running in this thread until it stops, which would break every async test after these.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"the studio threw: {errors}"


@pytest.fixture
def api(studio_server: RunningServer) -> Iterator[httpx.Client]:
    """The same server through plain HTTP, with the bootstrap admin's key."""
    headers = {"Authorization": f"Bearer {studio_server.api_key}"}
    with httpx.Client(base_url=studio_server.url, headers=headers, timeout=300) as client:
        yield client


def sign_in(page: Page, server: RunningServer, key: str | None = None) -> None:
    page.goto(f"{server.url}/studio")
    page.get_by_label("API key").fill(key or server.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Generate").wait_for()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_result(page: Page) -> None:
    expect(page.locator(".result img").first).to_be_visible(timeout=GENERATION_TIMEOUT_MS)


def newest_job(api: httpx.Client) -> dict[str, object]:
    jobs = api.get("/v1/generations", params={"limit": 1}).json()
    assert jobs, "no generation was made"
    job: dict[str, object] = jobs[0]
    return job
