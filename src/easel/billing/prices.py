"""The price list: credits per engine, scaled by pixels, steps and samples.

An engine's `price` is the credits for one image at its family's base size
and `BASE_STEPS` steps. A generation costs

    price × samples × (width × height / base_pixels) × (steps / BASE_STEPS)

rounded up to a thousandth of a credit. Upscale engines, and every v2beta
engine (Stability prices v2beta calls per image), charge `price` per image,
whatever the size and steps. `GET /v1/engines/pricing` publishes the inputs so
clients can estimate before they call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from easel.engines.base import EngineFamily, EngineSpec

BASE_STEPS = 30

BASE_PIXELS: dict[EngineFamily, int] = {
    "sd1": 512 * 512,
    "sd16": 512 * 512,
    "sdxl-beta": 512 * 512,
    "sd2-768": 768 * 768,
    "sdxl": 1024 * 1024,
    "sd3": 1024 * 1024,
    "esrgan": 1,
    "latent-upscaler": 1,
    "svd": 1,  # v2beta only: priced per call
    "mesh": 1,
    "u2net": 1,
}


@dataclass(frozen=True)
class EnginePrice:
    engine_id: str
    kind: str
    credits_per_image: float
    base_pixels: int
    base_steps: int


def engine_price(spec: EngineSpec) -> EnginePrice:
    return EnginePrice(
        engine_id=spec.id,
        kind=spec.kind,
        credits_per_image=spec.price,
        base_pixels=BASE_PIXELS[spec.family],
        base_steps=BASE_STEPS,
    )


# The most credits a balance holds: 2**53 thousandths, the largest count every
# store (a 64-bit integer column) and every JSON client (a double) keeps exactly.
MAX_BALANCE_MILLI = 2**53
MAX_CREDITS = MAX_BALANCE_MILLI // 1000


def to_milli(credits: float) -> int:
    """Credits → thousandths, rounding up so a price is never under-charged."""
    return math.ceil(round(credits * 1000, 6))


def from_milli(milli: int) -> float:
    return milli / 1000


def generation_cost_milli(
    spec: EngineSpec, *, width: int, height: int, steps: int, samples: int
) -> int:
    """The cost of one request in thousandths of a credit."""
    if spec.kind == "upscale" or spec.api == "v2beta":
        return to_milli(spec.price * samples)
    base = BASE_PIXELS[spec.family]
    return to_milli(spec.price * samples * (width * height / base) * (steps / BASE_STEPS))
