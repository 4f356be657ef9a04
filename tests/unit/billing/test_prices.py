"""The price formula."""

from __future__ import annotations

from easel.billing.prices import generation_cost_milli, to_milli
from easel.engines.catalog import default_engines

ENGINES = {spec.id: spec for spec in default_engines()}


def test_base_size_and_steps_cost_the_list_price() -> None:
    spec = ENGINES["stable-diffusion-v1-6"]
    assert generation_cost_milli(spec, width=512, height=512, steps=30, samples=1) == 900


def test_cost_scales_with_pixels_steps_and_samples() -> None:
    spec = ENGINES["stable-diffusion-xl-1024-v1-0"]
    base = generation_cost_milli(spec, width=1024, height=1024, steps=30, samples=1)
    assert generation_cost_milli(spec, width=1024, height=1024, steps=60, samples=1) == 2 * base
    assert generation_cost_milli(spec, width=1024, height=1024, steps=30, samples=3) == 3 * base
    small = generation_cost_milli(spec, width=1344, height=768, steps=30, samples=1)
    assert small == to_milli(0.9 * 1344 * 768 / (1024 * 1024))


def test_upscale_is_flat_per_image() -> None:
    spec = ENGINES["esrgan-v1-x2plus"]
    assert generation_cost_milli(spec, width=2048, height=2048, steps=50, samples=1) == 200


def test_rounding_never_undercharges() -> None:
    assert to_milli(0.0001) == 1
    assert to_milli(1.0) == 1000
