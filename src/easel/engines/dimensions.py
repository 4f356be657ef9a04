"""Stability's size rules, per engine family, with Stability's error names.

v1 engines take explicit sizes with the v1 rules below. v2beta engines take an
`aspect_ratio` instead (`aspect_ratio_size`), or an input image whose size
is fitted to the family (`fit_size`); the sd3 family accepts sides in steps of
64 (every size of the aspect table is one; SD3 itself needs only 16, the VAE
factor times the patch size) from 65 536 to 1 048 576 pixels, the range of
SD 3.5's training buckets around 1 MP.
"""

from __future__ import annotations

import math

from easel.engines.base import EngineFamily
from easel.errors import InvalidRequest

SDXL_V1_SIZES: frozenset[tuple[int, int]] = frozenset(
    {
        (1024, 1024),
        (1152, 896),
        (896, 1152),
        (1216, 832),
        (832, 1216),
        (1344, 768),
        (768, 1344),
        (1536, 640),
        (640, 1536),
    }
)

MIN_SIDE = 128
MAX_PIXELS = 1_048_576
MIN_PIXELS: dict[EngineFamily, int] = {"sd1": 262_144, "sd2-768": 589_824, "sd3": 65_536}
SD16_SIDES = (320, 1536)
SDXL_BETA_MAX_SHORT, SDXL_BETA_MAX_LONG = 512, 896
# Upscale: Stability caps the output at 4 MP (e.g. 2048×2048 or 4096×1024).
MAX_UPSCALE_OUTPUT_PIXELS = 4_194_304
MIN_UPSCALE_SIDE = 512


def check_dimensions(family: EngineFamily, width: int, height: int, *, subject: str = "") -> None:
    """Raise `InvalidRequest` with Stability's error name if `width`×`height` is not allowed.

    `subject` names what the size belongs to in messages (e.g. "init_image").
    """
    what = f"{subject} " if subject else ""
    if width % 64 or height % 64 or width < MIN_SIDE or height < MIN_SIDE:
        raise InvalidRequest(
            f"{what}height and width must be specified in increments of 64 and be at least "
            f"{MIN_SIDE}, got {width}x{height}",
            name="invalid_height_or_width",
        )
    pixels = width * height
    if family == "sdxl":
        if (width, height) not in SDXL_V1_SIZES:
            sizes = ", ".join(f"{w}x{h}" for w, h in sorted(SDXL_V1_SIZES, reverse=True))
            raise InvalidRequest(
                f"{what}{width}x{height} is not a valid SDXL v0.9/v1.0 size; valid dimensions "
                f"are {sizes}",
                name="invalid_sdxl_v1_dimensions",
            )
    elif family == "sdxl-beta":
        short, long = sorted((width, height))
        if long > SDXL_BETA_MAX_LONG or short > SDXL_BETA_MAX_SHORT:
            raise InvalidRequest(
                f"{what}{width}x{height} is not valid for SDXL v2-2-2: only one of height or "
                f"width may be above {SDXL_BETA_MAX_SHORT}, and the maximum is "
                f"{SDXL_BETA_MAX_SHORT}x{SDXL_BETA_MAX_LONG} or "
                f"{SDXL_BETA_MAX_LONG}x{SDXL_BETA_MAX_SHORT}",
                name="invalid_sdxl_v222_dimensions",
            )
    elif family == "sd16":
        low, high = SD16_SIDES
        if not (low <= width <= high and low <= height <= high):
            raise InvalidRequest(
                f"{what}height and width must each be between {low} and {high} for this "
                f"engine, got {width}x{height}",
                name="invalid_height_or_width",
            )
    elif family in MIN_PIXELS:
        low = MIN_PIXELS[family]
        if not low <= pixels <= MAX_PIXELS:
            raise InvalidRequest(
                f"{what}height * width must be between {low:,} and {MAX_PIXELS:,} pixels for "
                f"this engine, got {width}x{height} = {pixels:,}",
                name="invalid_pixel_count",
            )


def upscale_size(
    width: int, height: int, *, target_width: int | None, target_height: int | None
) -> tuple[int, int]:
    """The exact output size of an upscale: 2× by default, else the given side kept in aspect."""
    if target_width is not None and target_height is not None:
        raise InvalidRequest("width: only one of width or height may be specified")
    if target_width is not None:
        if target_width < MIN_UPSCALE_SIDE:
            raise InvalidRequest(f"width: must be at least {MIN_UPSCALE_SIDE}, got {target_width}")
        out = (target_width, max(1, round(height * target_width / width)))
    elif target_height is not None:
        if target_height < MIN_UPSCALE_SIDE:
            raise InvalidRequest(
                f"height: must be at least {MIN_UPSCALE_SIDE}, got {target_height}"
            )
        out = (max(1, round(width * target_height / height)), target_height)
    else:
        out = (width * 2, height * 2)
    if out[0] * out[1] > MAX_UPSCALE_OUTPUT_PIXELS:
        raise InvalidRequest(
            f"the requested image would be {out[0]}x{out[1]} = {out[0] * out[1]:,} pixels, "
            f"above the maximum of {MAX_UPSCALE_OUTPUT_PIXELS:,}",
            name="invalid_pixel_count",
        )
    return out


# v2beta's nine aspect ratios at about 1 MP. Only the 1:1 and 16:9 rows are
# confirmed against Stability (reference §2); the rest is the community table.
ASPECT_RATIO_SIZES: dict[str, tuple[int, int]] = {
    "21:9": (1536, 640),
    "16:9": (1344, 768),
    "3:2": (1216, 832),
    "5:4": (1088, 896),
    "1:1": (1024, 1024),
    "4:5": (896, 1088),
    "2:3": (832, 1216),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}

# v2beta upscale outputs. fast: 4x the input (reference §3.4). conservative
# and creative: the spec says "4 MP" / "up to 4K", but the live service
# returned 3112x3112 and 3152x3152 for a 512x512 input (§2, [LIVE]); easel
# follows the observation: the input's aspect ratio at that many pixels.
FAST_UPSCALE_FACTOR = 4
CONSERVATIVE_UPSCALE_PIXELS = 3112 * 3112
CREATIVE_UPSCALE_PIXELS = 3152 * 3152


def aspect_ratio_size(family: EngineFamily, aspect_ratio: str) -> tuple[int, int]:
    """The output size of a v2beta generation at `aspect_ratio` on a `family` engine.

    sd3 uses the aspect table; sdxl, whose v1 rules allow only its fixed
    list, uses the closest size of that list (5:4 becomes 1152x896).
    """
    if aspect_ratio not in ASPECT_RATIO_SIZES:
        raise InvalidRequest(
            f"aspect_ratio: must be one of {', '.join(ASPECT_RATIO_SIZES)}; got {aspect_ratio!r}"
        )
    width, height = ASPECT_RATIO_SIZES[aspect_ratio]
    return fit_size(family, width, height) if family == "sdxl" else (width, height)


def fit_size(family: EngineFamily, width: int, height: int) -> tuple[int, int]:
    """The size a `family` engine generates for an input of `width` x `height`.

    sdxl: the size of its fixed list with the closest aspect ratio. Other
    families: the input's aspect ratio at about 1 MP, sides in steps of 64,
    within the family's pixel range.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"a size must be positive, got {width}x{height}")
    aspect = math.log(width / height)
    if family == "sdxl":
        return min(SDXL_V1_SIZES, key=lambda s: (abs(math.log(s[0] / s[1]) - aspect), s))
    scale = math.sqrt(MAX_PIXELS / (width * height))
    return _scaled(width, height, scale, MAX_PIXELS, multiple=64, min_side=MIN_SIDE)


def scale_to_pixels(width: int, height: int, pixels: int, *, multiple: int = 8) -> tuple[int, int]:
    """`width` x `height` scaled to about `pixels`, aspect kept, sides rounded to `multiple`."""
    scale = math.sqrt(pixels / (width * height))
    return (
        max(multiple, round(width * scale / multiple) * multiple),
        max(multiple, round(height * scale / multiple) * multiple),
    )


def scale_within(width: int, height: int, pixels: int, *, multiple: int = 64) -> tuple[int, int]:
    """`width` x `height` with sides rounded to `multiple`, scaled down (never up) to `pixels`."""
    scale = min(1.0, math.sqrt(pixels / (width * height)))
    return _scaled(width, height, scale, pixels, multiple=multiple, min_side=multiple)


def _scaled(
    width: int, height: int, scale: float, pixels: int, *, multiple: int, min_side: int
) -> tuple[int, int]:
    """`width` x `height` times `scale`, sides rounded to `multiple`, at most `pixels`."""
    w = max(min_side, round(width * scale / multiple) * multiple)
    h = max(min_side, round(height * scale / multiple) * multiple)
    while w * h > pixels:  # rounding up may overshoot: trim the longer side
        if w >= h:
            w -= multiple
        else:
            h -= multiple
    return w, h
