"""The tiling helper on its own: pure numpy/PIL, no model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from easel.engines.tiling import map_tiles, tile_boxes


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize(("width", "height"), [(1000, 700), (256, 256), (3112, 3112), (100, 40)])
def test_boxes_are_equal_inside_and_cover_the_image(width: int, height: int) -> None:
    boxes = tile_boxes(width, height, tile=256, overlap=32)
    covered = np.zeros((height, width), dtype=bool)
    sizes = set()
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
        sizes.add((right - left, bottom - top))
        covered[top:bottom, left:right] = True
    assert covered.all()
    assert sizes == {(min(256, width), min(256, height))}  # one size: tiles can run as a batch


def test_neighbours_overlap_by_at_least_the_overlap() -> None:
    boxes = tile_boxes(1000, 256, tile=256, overlap=64)
    lefts = [b[0] for b in boxes]
    assert lefts == [0, 192, 384, 576, 744]  # the last one shifted back to end at 1000
    assert all(b[0] - a[0] <= 256 - 64 for a, b in zip(boxes, boxes[1:], strict=False))


def test_one_tile_when_the_image_fits() -> None:
    assert tile_boxes(512, 300, tile=1024, overlap=128) == [(0, 0, 512, 300)]


@pytest.mark.parametrize(("tile", "overlap"), [(0, 0), (64, 64), (64, -1)])
def test_bad_tiling_is_refused(tile: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        tile_boxes(100, 100, tile=tile, overlap=overlap)


def test_blending_keeps_a_constant_image_constant() -> None:
    image = Image.new("RGB", (700, 500), (200, 17, 90))
    out = map_tiles(image, lambda tile, i: tile, tile=256, overlap=48)
    assert out.size == (700, 500) and out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_identity_process_gives_the_image_back_exactly() -> None:
    image = _noise(611, 389)
    out = map_tiles(image, lambda tile, i: tile, tile=128, overlap=32)
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_seams_blend_between_neighbouring_tiles() -> None:
    # Each tile paints itself one flat grey: the output ramps between them
    # across the overlap instead of jumping at a seam.
    image = Image.new("L", (448, 64))
    out = map_tiles(image, lambda tile, i: Image.new("L", tile.size, 100 * i), tile=256, overlap=64)
    row = np.asarray(out, dtype=int)[0]
    assert out.size == (448, 64) and out.mode == "L"
    assert row[0] == 0 and row[-1] == 100  # tile 0 alone at the left, tile 1 at the right
    assert np.all(np.diff(row) >= 0) and np.abs(np.diff(row)).max() <= 3


def test_a_tile_of_the_wrong_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="processed tile"):
        map_tiles(_noise(300, 300), lambda tile, i: tile.resize((10, 10)), tile=128, overlap=16)
