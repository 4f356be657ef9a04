"""Control images: Canny edges and sketch strokes, on synthetic pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from easel.engines.backends.control import adapter_location
from easel.engines.edges import canny_edges, sketch_lines


def square(size: int = 64) -> Image.Image:
    image = Image.new("RGB", (size, size), (30, 30, 30))
    ImageDraw.Draw(image).rectangle((16, 16, 47, 47), fill=(220, 220, 220))
    return image


def test_canny_finds_the_outline_of_a_square_and_nothing_else() -> None:
    edges = np.asarray(canny_edges(square()))
    assert edges.shape == (64, 64) and set(np.unique(edges)) == {0, 255}
    on = np.argwhere(edges == 255)
    # every edge pixel is within two pixels of the square's border...
    near_border = np.minimum(np.abs(on - 15.5).min(axis=1), np.abs(on - 47.5).min(axis=1)) <= 2
    assert near_border.all()
    # ...the flat inside and outside have none, and the outline is thin and closed
    assert not edges[22:42, 22:42].any() and not edges[:10, :].any()
    assert edges[32, 10:22].any() and edges[32, 42:54].any()
    assert edges[10:22, 32].any() and edges[42:54, 32].any()
    assert edges[32].sum() // 255 <= 4


def test_a_flat_image_has_no_edges() -> None:
    assert not np.asarray(canny_edges(Image.new("RGB", (32, 32), "teal"))).any()


def test_canny_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        canny_edges(square(), low=0.5, high=0.2)


def test_dark_strokes_on_paper_become_light_strokes_on_black() -> None:
    paper = Image.new("RGB", (40, 40), "white")
    ImageDraw.Draw(paper).line((0, 20, 39, 20), fill="black", width=2)
    lines = np.asarray(sketch_lines(paper))
    assert lines[20].min() == 255 and lines[5].max() == 0


def test_light_strokes_on_black_are_kept_and_transparency_is_paper() -> None:
    chalk = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(chalk).line((20, 0, 20, 39), fill=200, width=2)
    assert np.asarray(sketch_lines(chalk))[:, 20].min() >= 250  # stretched up from 200
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    ImageDraw.Draw(transparent).line((0, 10, 39, 10), fill=(0, 0, 0, 255), width=2)
    lines = np.asarray(sketch_lines(transparent))
    assert lines[10].min() == 255 and lines[30].max() == 0


def test_adapter_locations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    weights = tmp_path / "ip-adapter.safetensors"
    weights.write_bytes(b"")
    assert adapter_location(str(weights)) == (str(tmp_path), "", "ip-adapter.safetensors")
    assert adapter_location("h94/IP-Adapter/sdxl_models/ip-adapter_sdxl.safetensors") == (
        "h94/IP-Adapter",
        "sdxl_models",
        "ip-adapter_sdxl.safetensors",
    )
    with pytest.raises(ValueError):
        adapter_location("h94/IP-Adapter")
