"""Processing an image larger than a model's comfortable size in overlapping tiles.

Diffusion models work well near their training size (1024 px for SDXL and
SD3) and memory grows with the square of the token count, so a diffusion
upscaler diffuses a large output tile by tile. Tiles overlap, and each
tile's contribution fades out linearly across the overlap towards every
neighbour (never towards the image border); the output is the weighted
average of the tiles, so seams blend and a region every tile leaves alone
comes back unchanged (a constant image stays constant).

Pure numpy and PIL: no torch, so it is tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

__all__ = ["Box", "map_tiles", "tile_boxes"]

# (left, top, right, bottom), as PIL's crop box
Box = tuple[int, int, int, int]


def _starts(length: int, size: int, overlap: int) -> list[int]:
    if size >= length:
        return [0]
    stride = size - overlap
    starts = list(range(0, length - size, stride))
    return [*starts, length - size]  # the last tile is shifted back to end at the border


def tile_boxes(width: int, height: int, *, tile: int, overlap: int) -> list[Box]:
    """Boxes of equal size (at most `tile` square) covering `width` x `height`, row by row.

    Neighbours overlap by at least `overlap` pixels; every box lies inside the
    image, so the last one in a row or column may overlap more.
    """
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need tile > overlap >= 0; got tile {tile}, overlap {overlap}")
    if width <= 0 or height <= 0:
        raise ValueError(f"an image size must be positive, got {width}x{height}")
    tw, th = min(tile, width), min(tile, height)
    return [
        (x, y, x + tw, y + th)
        for y in _starts(height, th, overlap)
        for x in _starts(width, tw, overlap)
    ]


def _ramp(size: int, fade_start: bool, fade_end: bool, overlap: int) -> np.ndarray:
    """1-D weights: 1 inside, rising linearly over `overlap` pixels at a faded edge."""
    weights = np.ones(size, dtype=np.float64)
    n = min(overlap, size // 2)
    if n > 0:
        rise = (np.arange(n, dtype=np.float64) + 0.5) / n  # > 0, so every pixel is covered
        if fade_start:
            weights[:n] = np.minimum(weights[:n], rise)
        if fade_end:
            weights[size - n :] = np.minimum(weights[size - n :], rise[::-1])
    return weights


def _tile_weights(box: Box, width: int, height: int, overlap: int) -> np.ndarray:
    left, top, right, bottom = box
    wx = _ramp(right - left, left > 0, right < width, overlap)
    wy = _ramp(bottom - top, top > 0, bottom < height, overlap)
    return np.outer(wy, wx)[:, :, None]


def map_tiles(
    image: Image.Image,
    process: Callable[[Image.Image, int], Image.Image],
    *,
    tile: int,
    overlap: int,
) -> Image.Image:
    """`process` applied to `image` tile by tile, the results blended across the overlaps.

    `process(tile_image, index)` must return an image of the tile's size (any
    mode; it is converted to `image`'s mode). The result has `image`'s size
    and mode.
    """
    width, height = image.size
    boxes = tile_boxes(width, height, tile=tile, overlap=overlap)
    if len(boxes) == 1:
        out = process(image, 0).convert(image.mode)
        if out.size != image.size:
            raise ValueError(f"a processed tile is {out.size}, expected {image.size}")
        return out
    channels = len(image.getbands())
    total = np.zeros((height, width, channels), dtype=np.float64)
    weight = np.zeros((height, width, 1), dtype=np.float64)
    for index, box in enumerate(boxes):
        out = process(image.crop(box), index).convert(image.mode)
        expected = (box[2] - box[0], box[3] - box[1])
        if out.size != expected:
            raise ValueError(f"a processed tile is {out.size}, expected {expected}")
        pixels = np.asarray(out, dtype=np.float64).reshape(expected[1], expected[0], channels)
        w = _tile_weights(box, width, height, overlap)
        total[box[1] : box[3], box[0] : box[2]] += pixels * w
        weight[box[1] : box[3], box[0] : box[2]] += w
    blended = np.clip(np.rint(total / weight), 0, 255).astype(np.uint8)
    if channels == 1:
        return Image.fromarray(blended[:, :, 0], image.mode)
    return Image.fromarray(blended, image.mode)
