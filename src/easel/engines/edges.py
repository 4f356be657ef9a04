"""Control images for ControlNets: Canny edges and normalised sketch lines.

ControlNets are trained on white lines over black. `canny_edges` computes a
Canny edge map (Gaussian smoothing, Sobel gradients, non-maximum suppression
along the gradient, then hysteresis between two thresholds relative to the
strongest gradient) with numpy and scipy.ndimage, so no OpenCV is needed.
`sketch_lines` turns a sketch (usually dark strokes on light paper) into
light strokes on black, with its contrast stretched.

No torch here: the functions take and return PIL images (mode "L").
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

__all__ = ["canny_edges", "sketch_lines"]

# Relative to the strongest gradient; about what OpenCV's popular 100/200 on 8-bit
# images gives on photographs.
LOW_THRESHOLD = 0.1
HIGH_THRESHOLD = 0.25
SIGMA = 1.4


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def canny_edges(
    image: Image.Image,
    *,
    sigma: float = SIGMA,
    low: float = LOW_THRESHOLD,
    high: float = HIGH_THRESHOLD,
) -> Image.Image:
    """A Canny edge map of `image`: 255 on edges, 0 elsewhere, the same size."""
    from scipy import ndimage

    if not 0 <= low <= high <= 1:
        raise ValueError(f"thresholds must satisfy 0 <= low <= high <= 1, got {low}, {high}")
    smooth = ndimage.gaussian_filter(_gray(image), sigma, mode="nearest")
    gx = ndimage.sobel(smooth, axis=1, mode="nearest")
    gy = ndimage.sobel(smooth, axis=0, mode="nearest")
    magnitude = np.hypot(gx, gy)
    peak = float(magnitude.max())
    if peak <= 1e-9:  # a flat image has no edges
        return Image.new("L", image.size, 0)
    thin = magnitude * _local_maxima(magnitude, gx, gy)
    strong = thin >= high * peak
    weak = thin >= low * peak
    # Hysteresis: keep the weak pixels connected (8-neighbourhood) to a strong one.
    labels, count = ndimage.label(weak, structure=np.ones((3, 3), dtype=bool))
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    edges = keep[labels]
    return Image.fromarray(edges.astype(np.uint8) * 255, "L")


def _local_maxima(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Where `magnitude` is at least both neighbours across the edge (the gradient direction)."""
    # Gradient direction quantised to 0, 45, 90 or 135 degrees.
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    sector = (((angle + 22.5) // 45) % 4).astype(np.int8)
    padded = np.pad(magnitude, 1, mode="constant")
    h, w = magnitude.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    # (row, column) offsets of the neighbours along each direction
    neighbours = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}
    keep = np.zeros_like(magnitude, dtype=bool)
    for index, (dy, dx) in neighbours.items():
        here = sector == index
        ahead, behind = shifted(dy, dx), shifted(-dy, -dx)
        keep |= here & (magnitude >= ahead) & (magnitude >= behind)
    return keep


def sketch_lines(image: Image.Image) -> Image.Image:
    """The sketch's strokes light on black, contrast stretched, the same size.

    A sketch on light paper (the usual case: its median is light) is
    inverted; one that is already light strokes on dark is kept as it is.
    Transparent pixels count as background.
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    gray = image.convert("L")
    if float(np.median(np.asarray(gray))) >= 128:
        gray = ImageOps.invert(gray)
    return ImageOps.autocontrast(gray, cutoff=1)
