"""Credit estimates from a price list: the server's, or built-in defaults.

easel publishes its price list at ``GET /v1/engines/pricing``; Stability's
hosted API has no such endpoint, so the client falls back to `DEFAULT_PRICES`,
which are estimates, not quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import APIResponseError

PriceKind = Literal["generate", "inpaint", "upscale"]
#: The engine kinds of a price list this client estimates.
PRICE_KINDS: frozenset[str] = frozenset({"generate", "inpaint", "upscale"})

#: Request kinds `estimate_credits()` accepts, mapped to price-list kinds.
KINDS: Mapping[str, PriceKind] = {
    "text-to-image": "generate",
    "image-to-image": "generate",
    "masking": "inpaint",
    "upscale": "upscale",
    "generate": "generate",
    "inpaint": "inpaint",
}


@dataclass(frozen=True)
class EnginePrice:
    """One row of a price list.

    Generate and inpaint prices scale with pixels and steps relative to
    ``base_pixels`` and ``base_steps``; upscale prices are flat per image.
    """

    engine_id: str
    kind: PriceKind
    credits_per_image: float
    base_pixels: int = 512 * 512
    base_steps: int = 30

    @classmethod
    def from_json(cls, data: Any) -> EnginePrice:
        """Read ``{engine_id, kind, credits_per_image, base_pixels, base_steps}``."""
        if not isinstance(data, Mapping):
            raise APIResponseError(f"price list entry is not an object: {data!r}")
        try:
            kind = str(data["kind"])
            if kind not in PRICE_KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            return cls(
                engine_id=str(data["engine_id"]),
                kind=KINDS[kind],
                credits_per_image=float(data["credits_per_image"]),
                base_pixels=int(data.get("base_pixels", 512 * 512)),
                base_steps=int(data.get("base_steps", 30)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise APIResponseError(f"bad price list entry {data!r}: {exc}") from exc


def _sd(engine_id: str, kind: PriceKind = "generate") -> EnginePrice:
    return EnginePrice(engine_id, kind, 0.9, 512 * 512, 30)


def _sdxl(engine_id: str) -> EnginePrice:
    return EnginePrice(engine_id, "generate", 0.9, 1024 * 1024, 30)


#: Built-in estimates, used when the server publishes no price list.
DEFAULT_PRICES: tuple[EnginePrice, ...] = (
    _sdxl("stable-diffusion-xl-1024-v1-0"),
    _sdxl("stable-diffusion-xl-1024-v0-9"),
    _sd("stable-diffusion-v1-6"),
    _sd("stable-diffusion-xl-beta-v2-2-2"),
    _sd("stable-diffusion-768-v2-1"),
    _sd("stable-diffusion-768-v2-0"),
    _sd("stable-diffusion-512-v2-1"),
    _sd("stable-diffusion-512-v2-0"),
    _sd("stable-diffusion-v1-5"),
    _sd("stable-diffusion-v1"),
    _sd("stable-diffusion-depth-v2-0"),
    _sd("stable-inpainting-v1-0", "inpaint"),
    _sd("stable-inpainting-512-v2-0", "inpaint"),
    EnginePrice("esrgan-v1-x2plus", "upscale", 0.2),
    EnginePrice("stable-diffusion-x4-latent-upscaler", "upscale", 12.0),
)

# Unknown engines are priced like a Stable Diffusion engine (or ESRGAN for upscales).
_FALLBACK: Mapping[PriceKind, EnginePrice] = {
    "generate": _sd("*"),
    "inpaint": _sd("*", "inpaint"),
    "upscale": EnginePrice("*", "upscale", 0.2),
}


def find_price(
    prices: Iterable[EnginePrice], engine_id: str, kind: PriceKind
) -> EnginePrice | None:
    """The row for `engine_id` and `kind`; inpaint falls back to the generate
    row, and an engine with a single row (e.g. an upscaler) uses it."""
    rows = [price for price in prices if price.engine_id == engine_id]
    by_kind = {row.kind: row for row in rows}
    if kind in by_kind:
        return by_kind[kind]
    if kind == "inpaint" and "generate" in by_kind:
        return by_kind["generate"]
    return rows[0] if len(rows) == 1 else None


def estimate(
    prices: Sequence[EnginePrice],
    engine_id: str,
    *,
    kind: str,
    width: int,
    height: int,
    steps: int,
    samples: int,
) -> float:
    """Credits for a request, from `prices`, then the defaults, then a generic price."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    wanted = KINDS[kind]
    price = (
        find_price(prices, engine_id, wanted)
        or find_price(DEFAULT_PRICES, engine_id, wanted)
        or _FALLBACK[wanted]
    )
    if price.kind == "upscale":
        credits = price.credits_per_image * samples
    else:
        credits = (
            price.credits_per_image
            * samples
            * (width * height / price.base_pixels)
            * (steps / price.base_steps)
        )
    return round(credits, 4)
