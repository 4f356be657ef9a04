"""Mask helpers shared by the edit operations and the edit engines (numpy and Pillow only).

A mask is a mode "L" image where white (255) marks pixels to repaint and
black (0) pixels to keep. `grow_mask` is v2beta's `grow_mask`: the mask's
edge moves outward by that many pixels and the grown band is feathered, so
the repainted area blends into what is kept; the original mask stays fully
white and pixels beyond the feathered band stay exactly 0.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def _max_filter_1d(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """The maximum over a window of 2*radius+1 along `axis`, in O(log radius) passes.

    Windows that double in width (the maximum of two overlapping windows of
    width w is that of width 2w), then one overlapping pair for the rest.
    """
    width = 2 * radius + 1
    pad = [(0, 0)] * values.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(values, pad)  # zeros: outside the image is "keep"
    size = padded.shape[axis]
    result = padded
    span = 1
    while span * 2 <= width:
        shifted = np.take(result, range(span, size), axis=axis)
        head = np.take(result, range(0, size - span), axis=axis)
        result = np.concatenate(
            [np.maximum(head, shifted), np.take(result, range(size - span, size), axis=axis)],
            axis=axis,
        )
        span *= 2
    rest = width - span
    if rest:
        shifted = np.take(result, range(rest, size), axis=axis)
        head = np.take(result, range(0, size - rest), axis=axis)
        result = np.concatenate(
            [np.maximum(head, shifted), np.take(result, range(size - rest, size), axis=axis)],
            axis=axis,
        )
    return np.take(result, range(0, size - 2 * radius), axis=axis)


def dilate(mask: Image.Image, pixels: int) -> Image.Image:
    """`mask` with every white pixel grown into a square of side 2*pixels+1."""
    if pixels <= 0:
        return mask.convert("L")
    values = np.asarray(mask.convert("L"))
    grown = _max_filter_1d(_max_filter_1d(values, pixels, 0), pixels, 1)
    return Image.fromarray(np.ascontiguousarray(grown), "L")


def grow_mask(mask: Image.Image, pixels: int) -> Image.Image:
    """Grow `mask` outward by `pixels` and feather the grown band (v2beta's `grow_mask`)."""
    mask = mask.convert("L")
    if pixels <= 0:
        return mask
    # Dilate by half, blur over the other half: the feathered edge ends near `pixels`.
    inner = max(1, pixels // 2)
    feathered = dilate(mask, inner).filter(ImageFilter.GaussianBlur(radius=(pixels - inner) / 2))
    # The blur never reaches past the dilation by `pixels`, and never dims the mask itself.
    limit = np.asarray(dilate(mask, pixels))
    values = np.minimum(np.asarray(feathered), limit)
    values = np.maximum(values, np.asarray(mask))
    return Image.fromarray(values, "L")


def binarize(mask: Image.Image, threshold: int = 128) -> Image.Image:
    """White where `mask` is at least `threshold`, black elsewhere."""
    return mask.convert("L").point(lambda v: 255 if v >= threshold else 0)


def is_empty(mask: Image.Image) -> bool:
    """Whether `mask` marks nothing to repaint."""
    return mask.convert("L").getbbox() is None
