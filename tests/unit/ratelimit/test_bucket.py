"""Token buckets: burst, steady rate, bounded memory."""

from __future__ import annotations

from easel.ratelimit.bucket import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(3, 2.0, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 0.5 and buckets.wait("a") == 0.5
    clock.now += 0.5
    assert buckets.wait("a") == 0 and buckets.take("a") == 0
    assert buckets.take("b") == 0  # keys are independent


def test_refilled_keys_are_dropped_and_keys_are_capped() -> None:
    clock = Clock()
    buckets = TokenBuckets(2, 1.0, clock=clock, max_keys=10)
    for i in range(50):
        buckets.take(f"addr-{i}")
    assert len(buckets) == 10
    clock.now += 2  # every bucket has refilled: no state left to keep
    buckets.wait("x")
    assert len(buckets) == 0
