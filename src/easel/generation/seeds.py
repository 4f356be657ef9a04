"""Seed resolution: 0 means random; each sample gets its own seed."""

from __future__ import annotations

import secrets

MAX_SEED = 4_294_967_295


def resolve_seeds(seed: int, samples: int) -> list[int]:
    """Seeds for `samples` images: `seed, seed+1, …` (wrapping, never 0), or random ones."""
    if seed == 0:
        return [secrets.randbelow(MAX_SEED) + 1 for _ in range(samples)]
    return [(seed - 1 + i) % MAX_SEED + 1 for i in range(samples)]
