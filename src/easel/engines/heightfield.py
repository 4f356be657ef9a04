"""A depth map lifted to a textured height-field mesh, written as binary glTF (GLB).

This is what easel's image-to-3D engines build: a grid of vertices over the
image's square frame, each pushed towards the viewer by the estimated depth
(nearer is higher), textured with the image itself. It is a relief, not a
full object: the back is open and nothing hidden from the camera is
invented. Where the input has an alpha channel, cells outside the subject
are dropped, so a cut-out subject becomes a cut-out relief.

Needs numpy, Pillow and trimesh (for the GLB writer); no torch.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

__all__ = ["DEFAULT_GRID", "frame_subject", "grid_size", "heightfield_glb"]

# Vertices per side when no vertex or face limit is asked for (16 384 vertices).
DEFAULT_GRID = 128
MIN_GRID = 2
# How far the nearest point stands out of the picture plane, as a fraction of its side.
RELIEF = 0.25


def grid_size(*, vertex_limit: int | None = None, face_limit: int | None = None) -> int:
    """Vertices per side of the grid that fits the limits (the default grid when none)."""
    side = DEFAULT_GRID
    if vertex_limit is not None:
        side = min(side, math.isqrt(vertex_limit))
    if face_limit is not None:  # a grid of n x n vertices has 2 (n-1)^2 triangles
        side = min(side, math.isqrt(face_limit // 2) + 1)
    return max(side, MIN_GRID)


def frame_subject(image: Image.Image, ratio: float) -> tuple[Image.Image, Image.Image]:
    """The image framed square, its subject filling `ratio` of the side, and its alpha.

    The subject is the alpha channel's bounding box (the whole image without
    alpha). A ratio above 1 crops into the subject, as Stability's
    `foreground_ratio` does. Returns an RGB image and an "L" alpha of one size.
    """
    rgba = image.convert("RGBA")
    box = rgba.getchannel("A").getbbox() or (0, 0, *rgba.size)
    subject = rgba.crop(box)
    side = max(1, round(max(subject.size) / ratio))
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(subject, ((side - subject.width) // 2, (side - subject.height) // 2))
    return canvas.convert("RGB"), canvas.getchannel("A")


def heightfield_glb(
    texture: Image.Image,
    depth: np.ndarray,
    *,
    alpha: Image.Image | None = None,
    grid: int = DEFAULT_GRID,
    texture_size: int = 1024,
) -> bytes:
    """A GLB of `depth` (any size, larger is nearer) as a `grid` x `grid` textured relief."""
    import trimesh

    near = _normalised(depth, grid)
    keep = None
    if alpha is not None:
        keep = np.asarray(alpha.resize((grid, grid), Image.Resampling.BILINEAR)) >= 128
    steps = np.linspace(0.0, 1.0, grid)
    u, v = np.meshgrid(steps, steps)  # v grows downwards, as the image's rows do
    vertices = np.stack([u - 0.5, 0.5 - v, near * RELIEF], axis=-1).reshape(-1, 3)
    faces = _faces(grid, keep)
    # trimesh takes OpenGL texture coordinates (origin bottom left) and flips them for glTF.
    uv = np.stack([u, 1.0 - v], axis=-1).reshape(-1, 2)
    image = texture.convert("RGB").resize((texture_size, texture_size), Image.Resampling.LANCZOS)
    mesh = trimesh.Trimesh(
        vertices=vertices,
        faces=faces,
        visual=trimesh.visual.TextureVisuals(uv=uv, image=image),  # type: ignore[no-untyped-call]
        process=False,
    )
    mesh.remove_unreferenced_vertices()  # the grid points outside the subject
    buffer = io.BytesIO()
    mesh.export(buffer, file_type="glb")
    return buffer.getvalue()


def _normalised(depth: np.ndarray, grid: int) -> np.ndarray:
    """`depth` resampled to `grid` x `grid` and scaled to 0 (farthest) .. 1 (nearest)."""
    field = Image.fromarray(np.asarray(depth, dtype=np.float32), mode="F")
    values = np.asarray(field.resize((grid, grid), Image.Resampling.BILINEAR), dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if not math.isfinite(low) or not math.isfinite(high) or high - low < 1e-12:
        return np.zeros((grid, grid))
    return (values - low) / (high - low)


def _faces(grid: int, keep: np.ndarray | None) -> np.ndarray:
    """Two triangles per grid cell (counter-clockwise seen from the viewer).

    With `keep`, only cells whose four corners are kept; all cells if that
    leaves none (a fully transparent input still gives a mesh).
    """
    rows, cols = np.meshgrid(np.arange(grid - 1), np.arange(grid - 1), indexing="ij")
    top_left = (rows * grid + cols).ravel()
    if keep is not None:
        corners = keep[:-1, :-1] & keep[:-1, 1:] & keep[1:, :-1] & keep[1:, 1:]
        if corners.any():
            top_left = top_left[corners.ravel()]
    top_right, bottom_left = top_left + 1, top_left + grid
    bottom_right = bottom_left + 1
    first = np.stack([top_left, bottom_left, top_right], axis=-1)
    second = np.stack([top_right, bottom_left, bottom_right], axis=-1)
    return np.concatenate([first, second]).astype(np.int64)
