"""v2beta size rules: the sd3 family, the aspect table, fitted and upscale sizes."""

from __future__ import annotations

import pytest

from easel.engines.dimensions import (
    ASPECT_RATIO_SIZES,
    SDXL_V1_SIZES,
    aspect_ratio_size,
    check_dimensions,
    fit_size,
    scale_to_pixels,
)
from easel.errors import InvalidRequest


@pytest.mark.parametrize("ratio", list(ASPECT_RATIO_SIZES))
def test_every_aspect_ratio_is_a_valid_sd3_and_sdxl_size(ratio: str) -> None:
    width, height = aspect_ratio_size("sd3", ratio)
    assert (width, height) == ASPECT_RATIO_SIZES[ratio]
    check_dimensions("sd3", width, height)
    assert aspect_ratio_size("sdxl", ratio) in SDXL_V1_SIZES


def test_confirmed_rows_and_the_sdxl_stand_in_for_5_4() -> None:
    assert aspect_ratio_size("sd3", "1:1") == (1024, 1024)
    assert aspect_ratio_size("sd3", "16:9") == (1344, 768)
    assert aspect_ratio_size("sdxl", "5:4") == (1152, 896)  # 1088x896 is no SDXL size


def test_unknown_aspect_ratio() -> None:
    with pytest.raises(InvalidRequest, match="aspect_ratio"):
        aspect_ratio_size("sd3", "4:3")


@pytest.mark.parametrize(
    ("width", "height", "name"),
    [
        (1000, 1000, "invalid_height_or_width"),
        (1152, 1024, "invalid_pixel_count"),
        (192, 192, "invalid_pixel_count"),
    ],
)
def test_sd3_rules(width: int, height: int, name: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_dimensions("sd3", width, height)
    assert info.value.name == name


@pytest.mark.parametrize(("width", "height"), [(64, 64), (4000, 3000), (16384, 64), (1536, 640)])
def test_fitted_sd3_sizes_are_valid_and_keep_the_aspect(width: int, height: int) -> None:
    w, h = fit_size("sd3", width, height)
    check_dimensions("sd3", w, h)
    if 1 / 4 < width / height < 4:
        assert abs(w / h - width / height) / (width / height) < 0.1


def test_fitted_sdxl_size_is_the_closest_listed() -> None:
    assert fit_size("sdxl", 512, 512) == (1024, 1024)
    assert fit_size("sdxl", 1920, 1080) == (1344, 768)


def test_scale_to_pixels_matches_the_observed_upscale() -> None:
    assert scale_to_pixels(512, 512, 3112 * 3112) == (3112, 3112)
    w, h = scale_to_pixels(1024, 512, 3152 * 3152)
    assert w % 8 == 0 and h % 8 == 0 and abs(w / h - 2) < 0.01
