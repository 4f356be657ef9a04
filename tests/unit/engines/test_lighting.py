"""Classical relighting: light maps, the gain they give, the subject kept or relit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from easel.engines.lighting import (
    ambient_tint,
    compose,
    direction_map,
    light_map,
    reference_map,
    to_linear,
    to_srgb,
)

SIZE = (40, 30)
GREY = (128, 128, 128)


def grey(size: tuple[int, int] = SIZE) -> Image.Image:
    return Image.new("RGB", size, GREY)


def box_alpha(
    size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = (10, 8, 30, 22)
) -> Image.Image:
    alpha = Image.new("L", size, 0)
    alpha.paste(255, box)
    return alpha


def halves(image: Image.Image, axis: int) -> tuple[float, float]:
    """The mean of the first and the second half of `image` along `axis` (1: left/right)."""
    pixels = np.asarray(image.convert("L"), dtype=np.float64)
    first, second = np.array_split(pixels, 2, axis=axis)
    return float(first.mean()), float(second.mean())


def test_linear_light_round_trips_every_8_bit_value() -> None:
    values = np.arange(256, dtype=np.uint8)
    assert np.array_equal(np.rint(to_srgb(to_linear(values))).astype(np.uint8), values)
    assert to_linear(np.array([0, 255])).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("direction", "lit", "dark"),
    [
        ("left", (0, 0), (0, -1)),
        ("right", (0, -1), (0, 0)),
        ("above", (0, 0), (-1, 0)),
        ("below", (-1, 0), (0, 0)),
    ],
)
def test_a_direction_ramps_from_1_on_the_lit_side_to_0(
    direction: str, lit: tuple[int, int], dark: tuple[int, int]
) -> None:
    ramp = direction_map(SIZE, direction)  # type: ignore[arg-type]
    assert ramp.shape == (30, 40) and ramp.dtype == np.float32
    assert ramp[lit] == 1.0 and ramp[dark] == 0.0
    assert 0.0 <= ramp.min() and ramp.max() <= 1.0


@pytest.mark.parametrize(("direction", "axis"), [("left", 1), ("above", 0)])
def test_the_lit_side_of_a_flat_grey_image_is_brighter(direction: str, axis: int) -> None:
    light = light_map(SIZE, direction, None)  # type: ignore[arg-type]
    out = compose(grey(), box_alpha(), grey(), light=light, strength=0.3, preserve=0.0)
    lit, far = halves(out, axis)
    assert lit > 128 > far
    # stronger light, a steeper gradient
    strong = compose(grey(), box_alpha(), grey(), light=light, strength=1.0, preserve=0.0)
    lit_strong, far_strong = halves(strong, axis)
    assert lit_strong - far_strong > lit - far > 10


def test_opposite_directions_mirror_each_other() -> None:
    left = compose(
        grey(), box_alpha(), grey(), light=direction_map(SIZE, "left"), strength=1, preserve=0
    )
    right = compose(
        grey(), box_alpha(), grey(), light=direction_map(SIZE, "right"), strength=1, preserve=0
    )
    assert np.array_equal(np.asarray(left)[:, ::-1], np.asarray(right))


def test_no_light_or_no_strength_leaves_a_flat_scene_as_it_was() -> None:
    for light, strength in ((None, 1.0), (direction_map(SIZE, "left"), 0.0)):
        out = compose(grey(), box_alpha(), grey(), light=light, strength=strength, preserve=0.0)
        assert np.array_equal(np.asarray(out), np.asarray(grey()))


def test_preserve_1_keeps_the_subjects_pixels_exactly_and_relights_the_rest() -> None:
    subject = Image.fromarray(
        np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    )
    background = Image.new("RGB", SIZE, (20, 140, 60))
    light = direction_map(SIZE, "left")
    alpha = box_alpha()
    inside = np.asarray(alpha) == 255
    kept = np.asarray(compose(subject, alpha, background, light=light, strength=1, preserve=1.0))
    assert np.array_equal(kept[inside], np.asarray(subject)[inside])
    assert not np.array_equal(kept[~inside], np.asarray(background)[~inside])  # relit
    # less preservation, more of the new light on the subject; never more than the light gives
    relit = np.asarray(compose(subject, alpha, background, light=light, strength=1, preserve=0.0))
    half = np.asarray(compose(subject, alpha, background, light=light, strength=1, preserve=0.5))
    original = np.asarray(subject).astype(int)
    full_change = np.abs(relit.astype(int) - original)[inside]
    half_change = np.abs(half.astype(int) - original)[inside]
    assert full_change.mean() > 5
    assert np.all(half_change <= (full_change + 1) // 2 + 1)
    # a soft alpha mixes the two: between the kept subject and the relit background
    soft = compose(
        subject, Image.new("L", SIZE, 128), background, light=None, strength=0, preserve=1
    )
    expected = (np.asarray(subject, float) * 128 + np.asarray(background, float) * 127) / 255
    assert np.abs(np.asarray(soft) - expected).max() <= 1


def test_a_light_reference_lights_where_it_is_bright() -> None:
    reference = Image.new("L", (100, 100), 20)
    reference.paste(235, (50, 0, 100, 100))  # bright on the right
    field = reference_map(reference.convert("RGB"), SIZE)
    assert field.shape == (30, 40) and field.min() == 0.0 and field.max() == 1.0
    out = compose(grey(), box_alpha(), grey(), light=field, strength=0.8, preserve=0.0)
    left, right = halves(out, 1)
    assert right > 128 > left
    # a flat reference places no light
    flat = reference_map(Image.new("RGB", (64, 64), (90, 90, 90)), SIZE)
    assert np.all(flat == 0.5)


def test_a_direction_and_a_reference_together_average_their_maps() -> None:
    reference = Image.new("RGB", (64, 64), "black")
    reference.paste((255, 255, 255), (0, 0, 64, 32))  # bright at the top
    both = light_map(SIZE, "left", reference)
    assert both is not None
    expected = (direction_map(SIZE, "left") + reference_map(reference, SIZE)) / 2
    assert np.allclose(both, expected)
    assert light_map(SIZE, None, None) is None


def test_the_subject_takes_a_little_of_the_backgrounds_colour() -> None:
    red = to_linear(np.asarray(Image.new("RGB", SIZE, (200, 30, 30))))
    tint = ambient_tint(red)
    assert tint[0] > 1 > tint[1] and tint[1] == tint[2]
    assert np.array_equal(ambient_tint(np.zeros((4, 4, 3), np.float32)), np.ones(3))
    out = np.asarray(
        compose(
            grey(),
            box_alpha(),
            Image.new("RGB", SIZE, (200, 30, 30)),
            light=None,
            strength=0,
            preserve=0,
        )
    )
    subject = out[15, 20].astype(int)
    assert subject[0] > 128 > subject[1]  # warmer than the grey it was
    assert np.array_equal(out[0, 0], [200, 30, 30])  # the background is unlit, so unchanged
