"""Classical relighting for replace-background-and-relight (numpy and Pillow only).

easel runs no learned relighting model (such as IC-Light): Stability's
relighting is approximated with image operations in linear light.

- A light map L (0-1 per pixel, `light_map`) comes from
  `light_source_direction` (a linear ramp: 1 on the side the light comes
  from, 0 on the far side) or from `light_reference` (its luminance averaged
  to a soft field and stretched to 0-1, so brighter parts of the reference
  are brighter parts of the output); with both, their mean.
- `compose` scales every pixel's linear RGB, subject and background alike,
  by 1 + LIGHT_RANGE x strength x (2L - 1): the lit side brightens, the far
  side darkens, the mean stays about where it was.
- The subject also takes a little of the background's mean colour
  (`AMBIENT_TINT`), as ambient light from the new scene would give it.
- `preserve_original_subject` p blends the relit subject back toward its
  original pixels (p x original + (1 - p) x relit): 1 keeps them exactly.

What this cannot do: cast or remove shadows, follow the subject's shape
(no normals or depth), add highlights, or take the light's colour from the
reference.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

LightDirection = Literal["left", "right", "above", "below"]

# At strength 1 the lit side gets 1.75x its linear light, the far side 0.25x.
LIGHT_RANGE = 0.75
# How much of the background's colour cast the subject takes (an exponent on it).
AMBIENT_TINT = 0.3
# The light reference is averaged down to this many cells on its shorter side.
_LIGHT_CELLS = 8


def _linear_table() -> np.ndarray:
    srgb = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return linear.astype(np.float32)


_LINEAR = _linear_table()


def to_linear(pixels: np.ndarray) -> np.ndarray:
    """8-bit sRGB values as linear light 0-1 (float32), by table."""
    linear: np.ndarray = _LINEAR[np.asarray(pixels, dtype=np.uint8)]
    return linear


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light as sRGB values 0-255 (float32, not rounded; clipped to the range)."""
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return (srgb * 255.0).astype(np.float32)


def direction_map(size: tuple[int, int], direction: LightDirection) -> np.ndarray:
    """A ramp (height x width) from 1 where the light comes from to 0 on the far side."""
    width, height = size
    across = np.linspace(1.0, 0.0, width, dtype=np.float32)
    down = np.linspace(1.0, 0.0, height, dtype=np.float32)
    ramps = {
        "left": np.broadcast_to(across, (height, width)),
        "right": np.broadcast_to(across[::-1], (height, width)),
        "above": np.broadcast_to(down[:, None], (height, width)),
        "below": np.broadcast_to(down[::-1, None], (height, width)),
    }
    return np.array(ramps[direction], dtype=np.float32)


def reference_map(reference: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The reference's luminance as a soft 0-1 field at `size` (flat: 0.5 everywhere)."""
    width, height = size
    scale = _LIGHT_CELLS / min(reference.size)
    cells = (max(1, round(reference.width * scale)), max(1, round(reference.height * scale)))
    # averaged into a few cells, then spread smoothly over the output: light, not detail
    field = reference.convert("L").resize(cells, Image.Resampling.BOX)
    values = np.asarray(field.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if high - low < 1.0:
        return np.full((height, width), 0.5, dtype=np.float32)
    return (values - low) / (high - low)


def light_map(
    size: tuple[int, int], direction: LightDirection | None, reference: Image.Image | None
) -> np.ndarray | None:
    """Where the light falls (0-1, height x width), or None when no light is asked for."""
    maps = []
    if direction is not None:
        maps.append(direction_map(size, direction))
    if reference is not None:
        maps.append(reference_map(reference, size))
    if not maps:
        return None
    mean: np.ndarray = np.mean(maps, axis=0).astype(np.float32)
    return mean


def ambient_tint(background: np.ndarray) -> np.ndarray:
    """Per-channel factors (3,) that give linear pixels a little of `background`'s colour."""
    mean = background.reshape(-1, 3).mean(axis=0)
    level = float(mean.mean())
    if level < 1e-4:  # a black background has no colour to give
        return np.ones(3, dtype=np.float32)
    cast: np.ndarray = np.clip(mean / level, 0.5, 2.0) ** AMBIENT_TINT
    return cast.astype(np.float32)


def compose(
    subject: Image.Image,
    alpha: Image.Image,
    background: Image.Image,
    *,
    light: np.ndarray | None,
    strength: float,
    preserve: float,
) -> Image.Image:
    """The subject (cut out by `alpha`) over `background`, both relit by `light`.

    All three images have the output's size; `light` is `light_map`'s field.
    Where `alpha` is 255 and `preserve` is 1, the subject's pixels come back exactly.
    """
    pixels = np.asarray(subject.convert("RGB"))
    original = pixels.astype(np.float32)
    scene = to_linear(np.asarray(background.convert("RGB")))
    gain: np.ndarray | float = 1.0
    if light is not None:
        gain = (1.0 + LIGHT_RANGE * strength * (2.0 * light - 1.0))[..., None]
    lit_background = to_srgb(scene * gain)
    lit_subject = to_srgb(to_linear(pixels) * ambient_tint(scene) * gain)
    kept = original + (1.0 - preserve) * (lit_subject - original)
    cover = np.asarray(alpha.convert("L"), dtype=np.float32)[..., None] / 255.0
    out = kept * cover + lit_background * (1.0 - cover)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
