"""The studio without a mouse: every control of the Generate page is a Tab stop with a
visible focus ring, the operation picker and Generate work from the keyboard, and the
mask is painted with the arrow keys and Space."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot, wait_for_result
from tests.images import noise_png
from tests.integration.conftest import RunningServer

# Every element a user could operate, marked, and named for a message.
_MARK_TAB_STOPS = """() => {
  // native controls count whatever their tabindex says; other elements when tabbable
  const controls = "a[href], button, input, select, textarea";
  const all = document.querySelectorAll(`${controls}, [tabindex]`);
  const stops = [...all].filter(
    (e) => (e.matches(controls) || e.tabIndex >= 0) && !e.disabled
      && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden",
  );
  return stops.map((e, i) => {
    e.dataset.tabStop = String(i);
    const label = e.labels?.[0]?.textContent || e.getAttribute("aria-label") || e.textContent;
    return `${e.tagName.toLowerCase()} "${(label || e.name || "").trim()}"`;
  });
}"""
# The focused element's mark, and whether a focus ring is drawn around it.
_FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return [e.dataset.tabStop ?? null, ring];
}"""


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until `target` has the focus."""
    for _ in range(limit):
        if target.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} was not reached with Tab")


def choose_by_keyboard(page: Page, picker: Locator, value: str) -> None:
    """Arrow down a focused <select> until it shows `value`."""
    for _ in range(picker.locator("option").count()):
        if picker.input_value() == value:
            return
        page.keyboard.press("ArrowDown")
    assert picker.input_value() == value


def sign_in_by_keyboard(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/studio")
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(server.api_key)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Engine")).to_be_visible()


def test_every_generate_control_is_a_tab_stop_with_a_visible_focus_ring(
    page: Page, studio_server: RunningServer
) -> None:
    sign_in_by_keyboard(page, studio_server)
    stops: list[str] = page.evaluate(_MARK_TAB_STOPS)
    assert len(stops) > 15, stops  # nav, the form's controls, Generate

    reached: dict[int, bool] = {}
    # twice round: the focus leaves the page after the last stop and comes back at the top
    for _ in range(2 * len(stops) + 4):
        page.keyboard.press("Tab")
        mark, ring = page.evaluate(_FOCUSED)
        if mark is not None:
            reached[int(mark)] = ring
    missed = [stops[i] for i in range(len(stops)) if i not in reached]
    assert not missed, f"not reachable with Tab: {missed}"
    no_ring = [stops[i] for i, ring in reached.items() if not ring]
    assert not no_ring, f"no visible focus ring: {no_ring}"


def test_pick_an_operation_choose_an_image_and_generate_by_keyboard(
    page: Page, studio_server: RunningServer, tmp_path: Path
) -> None:
    small = tmp_path / "small.png"
    small.write_bytes(noise_png(64, 48))
    sign_in_by_keyboard(page, studio_server)

    picker = page.get_by_label("Operation")
    tab_to(page, picker)
    choose_by_keyboard(page, picker, "/v2beta/stable-image/upscale/fast")
    expect(page.get_by_label("Prompt", exact=True)).to_be_hidden()  # the form followed

    chooser = page.get_by_label("Init image", exact=True)
    tab_to(page, chooser)
    with page.expect_file_chooser() as opened:
        page.keyboard.press("Space")
    opened.value.set_files(small)
    expect(page.get_by_role("img", name="The init image")).to_be_visible()

    tab_to(page, page.get_by_role("button", name="Generate"))
    page.keyboard.press("Enter")
    wait_for_result(page)
    expect(page.get_by_text("Job succeeded")).to_be_visible()

    # the result's actions are keyboard-operable too: "Use as init image" hands the
    # image back and puts the focus where it went
    tab_to(page, page.get_by_role("button", name="Use as init image"))
    page.keyboard.press("Enter")
    expect(chooser).to_be_focused()
    screenshot(page, "keyboard")


def test_paint_the_mask_with_the_keyboard(
    page: Page, studio_server: RunningServer, tmp_path: Path
) -> None:
    # a dark image the canvas shows at its own size at 1280 px: one CSS pixel is one pixel
    dark = tmp_path / "dark.png"
    Image.new("RGB", (512, 512), (20, 20, 20)).save(dark)
    sign_in_by_keyboard(page, studio_server)
    picker = page.get_by_label("Operation")
    tab_to(page, picker)
    choose_by_keyboard(page, picker, "masking")
    page.get_by_label("Init image", exact=True).set_input_files(dark)
    canvas = page.locator("canvas.mask-canvas")
    expect(canvas).to_be_visible()

    def tinted(x: int, y: int) -> bool:
        """Whether the view shows mask over the pixel (a masked pixel is screened white)."""
        shown: list[int] = canvas.evaluate(
            "(c, [x, y]) => [...c.getContext('2d').getImageData(x, y, 1, 1).data]", [x, y]
        )
        return min(shown[:3]) >= 128

    page.get_by_label("Brush size").fill("16")  # a step of the brush is 8 px
    tab_to(page, canvas)
    page.keyboard.press("Space")  # a dab at the centre
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")  # and one 24 px to its right
    assert tinted(256, 256) and tinted(280, 256)
    assert not tinted(300, 256) and not tinted(8, 8)
    screenshot(page, "mask-keyboard")
