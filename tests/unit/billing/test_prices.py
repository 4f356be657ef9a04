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


def test_v2beta_engines_charge_their_list_price_per_image() -> None:
    for engine_id, credits in (
        ("stable-image-ultra", 8.0),
        ("stable-image-core", 3.0),
        ("sd3.5-large", 6.5),
        ("sd3.5-large-turbo", 4.0),
        ("sd3.5-medium", 3.5),
        ("upscale-fast", 2.0),
        ("upscale-conservative", 40.0),
        ("upscale-creative", 60.0),
    ):
        spec = ENGINES[engine_id]
        # whatever the aspect ratio and steps: Stability prices a v2beta call, not its pixels
        cost = generation_cost_milli(spec, width=1344, height=768, steps=4, samples=2)
        assert cost == to_milli(2 * credits), engine_id


def test_rounding_never_undercharges() -> None:
    assert to_milli(0.0001) == 1
    assert to_milli(1.0) == 1000
