"""Stability's v1 size rules and upscale sizes, called directly (no app, no database).

`tests/unit/api/test_generation.py` keeps a few of these cases through HTTP to prove
the routes apply the rules.
"""

from __future__ import annotations

import pytest

from easel.engines.catalog import default_engines
from easel.engines.dimensions import check_dimensions, upscale_size
from easel.errors import InvalidRequest

FAMILY = {spec.id: spec.family for spec in default_engines()}
SD = "stable-diffusion-v1-6"
SD512 = "stable-diffusion-512-v2-1"
SDXL = "stable-diffusion-xl-1024-v1-0"
BETA = "stable-diffusion-xl-beta-v2-2-2"


@pytest.mark.parametrize(
    ("engine", "width", "height", "name"),
    [
        (SD, 500, 512, "invalid_height_or_width"),
        (SD, 512, 64, "invalid_height_or_width"),
        (SD512, 256, 256, "invalid_pixel_count"),
        (SD512, 1024, 1088, "invalid_pixel_count"),
        ("stable-diffusion-768-v2-1", 512, 512, "invalid_pixel_count"),
        (SD, 1600, 320, "invalid_height_or_width"),
        (SDXL, 512, 512, "invalid_sdxl_v1_dimensions"),
        (SDXL, 1024, 768, "invalid_sdxl_v1_dimensions"),
        (BETA, 768, 768, "invalid_sdxl_v222_dimensions"),
        (BETA, 512, 960, "invalid_sdxl_v222_dimensions"),
    ],
)
def test_dimension_rules(engine: str, width: int, height: int, name: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        check_dimensions(FAMILY[engine], width, height)
    assert (raised.value.status, raised.value.name) == (400, name)


@pytest.mark.parametrize(
    ("engine", "width", "height"),
    [(SDXL, 832, 1216), (SDXL, 1344, 768), (BETA, 512, 896), (BETA, 128, 128), (SD, 1536, 320)],
)
def test_valid_edge_sizes(engine: str, width: int, height: int) -> None:
    check_dimensions(FAMILY[engine], width, height)


def test_subject_names_the_image_in_the_message() -> None:
    with pytest.raises(InvalidRequest, match="^init_image "):
        check_dimensions(FAMILY[SD], 500, 512, subject="init_image")


@pytest.mark.parametrize(
    ("size", "target", "expected"),
    [
        ((300, 200), (None, None), (600, 400)),
        ((512, 256), (1024, None), (1024, 512)),
        ((300, 200), (None, 1000), (1500, 1000)),
        ((1024, 1024), (None, None), (2048, 2048)),
    ],
)
def test_upscale_sizes(
    size: tuple[int, int], target: tuple[int | None, int | None], expected: tuple[int, int]
) -> None:
    assert upscale_size(*size, target_width=target[0], target_height=target[1]) == expected


@pytest.mark.parametrize(
    ("size", "target", "name"),
    [
        ((512, 512), (1024, 1024), "bad_request"),
        ((512, 512), (256, None), "bad_request"),
        ((1536, 1536), (None, None), "invalid_pixel_count"),
        ((1024, 1024), (4096, None), "invalid_pixel_count"),
    ],
)
def test_bad_upscale_sizes(
    size: tuple[int, int], target: tuple[int | None, int | None], name: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        upscale_size(*size, target_width=target[0], target_height=target[1])
    assert (raised.value.status, raised.value.name) == (400, name)
