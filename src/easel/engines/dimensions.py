"""Stability's v1 size rules, per engine family, with Stability's error names."""

from __future__ import annotations

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
MIN_PIXELS: dict[EngineFamily, int] = {"sd1": 262_144, "sd2-768": 589_824}
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
