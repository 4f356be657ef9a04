"""The rate limiter's contract, run against both backends with a fake clock.

Redis tests use the server at 127.0.0.1:6379 (CI guarantees it); if it is not
there they fail rather than skip. Each Redis test writes under its own random
prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import redis.asyncio

from easel.ratelimit import RateLimitDecision, RateLimiter, RateLimitPolicy
from easel.ratelimit.memory import MemoryRateLimiter
from easel.ratelimit.redis import RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    """A clock that only moves when told to. Times are exact binary fractions."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


LimiterFactory = Callable[[RateLimitPolicy, FakeClock], RateLimiter]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix; its keys are deleted afterwards (sync, so any fixture can use it)."""
    prefix = f"easel:test:rl:{uuid.uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter_factory(request: pytest.FixtureRequest) -> AsyncIterator[LimiterFactory]:
    """Builds limiters of one backend; for Redis each one has its own client, like a process."""
    created: list[RateLimiter] = []
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""

    def factory(policy: RateLimitPolicy, clock: FakeClock) -> RateLimiter:
        limiter: RateLimiter
        if request.param == "memory":
            limiter = MemoryRateLimiter(policy, clock=clock)
        else:
            limiter = RedisRateLimiter(policy, url=REDIS_URL, prefix=prefix, clock=clock)
        created.append(limiter)
        return limiter

    yield factory
    for limiter in created:
        await limiter.aclose()


async def hit_n(limiter: RateLimiter, key: str, n: int) -> list[RateLimitDecision]:
    return [await limiter.hit(key) for _ in range(n)]


SMALL = RateLimitPolicy(requests=5, window_seconds=10, lockout_seconds=60)


async def test_default_policy_is_stabilitys_contract(limiter_factory: LimiterFactory) -> None:
    limiter = limiter_factory(RateLimitPolicy(), FakeClock())

    decisions = await hit_n(limiter, "key", 151)

    assert all(d.allowed for d in decisions[:150])
    assert decisions[150] == RateLimitDecision(
        allowed=False, limit=150, remaining=0, retry_after=60.0, reset_after=60.0
    )


async def test_allows_exactly_limit_then_refuses_with_lockout(
    limiter_factory: LimiterFactory,
) -> None:
    clock = FakeClock()
    limiter = limiter_factory(SMALL, clock)

    decisions = await hit_n(limiter, "key", 5)
    clock.advance(2.5)
    refused = await limiter.hit("key")

    assert [d.allowed for d in decisions] == [True] * 5
    assert not refused.allowed
    assert refused.retry_after == 60.0
    assert refused.remaining == 0


async def test_remaining_counts_down(limiter_factory: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = limiter_factory(SMALL, clock)

    first = await limiter.hit("key")
    clock.advance(3)
    rest = await hit_n(limiter, "key", 4)

    assert [d.remaining for d in [first, *rest]] == [4, 3, 2, 1, 0]
    assert all(d.limit == 5 and d.retry_after == 0 for d in [first, *rest])
    # reset_after: until the oldest request (at t=0) leaves the window.
    assert first.reset_after == 10.0
    assert rest[-1].reset_after == 7.0


async def test_lockout_lasts_exactly_lockout_seconds(limiter_factory: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = limiter_factory(SMALL, clock)
    await hit_n(limiter, "key", 5)
    assert not (await limiter.hit("key")).allowed  # lock-out starts now

    during = []
    for _ in range(4):
        clock.advance(14.75)
        during.append(await limiter.hit("key"))  # at +14.75, +29.5, +44.25, +59
    clock.advance(0.75)
    last_moment = await limiter.hit("key")  # +59.75
    clock.advance(0.25)
    after = await limiter.hit("key")  # +60

    # Every request in the lock-out is refused with the remaining lock-out;
    # none of them extends it.
    assert [d.retry_after for d in during] == [45.25, 30.5, 15.75, 1.0]
    assert not any(d.allowed for d in during)
    assert not last_moment.allowed and last_moment.retry_after == 0.25
    assert after.allowed and after.remaining == 4  # the window is empty again


async def test_keys_are_independent(limiter_factory: LimiterFactory) -> None:
    limiter = limiter_factory(SMALL, FakeClock())

    await hit_n(limiter, "a", 6)
    b = await hit_n(limiter, "b", 5)

    assert all(d.allowed for d in b)
    assert not (await limiter.hit("a")).allowed
    assert not (await limiter.hit("b")).allowed


async def test_window_slides_across_a_fixed_boundary(limiter_factory: LimiterFactory) -> None:
    """A burst just before a 10 s boundary does not buy a second burst just after it."""
    clock = FakeClock(1_000_000.0)  # a multiple of 10: a fixed window would reset at +10
    limiter = limiter_factory(SMALL, clock)

    clock.advance(9.5)
    before = await hit_n(limiter, "key", 5)
    clock.advance(1)  # +10.5: a new fixed window, but the burst is 1 s old
    after = await limiter.hit("key")

    assert all(d.allowed for d in before)
    assert not after.allowed


async def test_requests_leave_the_window_one_by_one(limiter_factory: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = limiter_factory(RateLimitPolicy(5, window_seconds=10, lockout_seconds=0), clock)

    await hit_n(limiter, "key", 3)  # t=0
    clock.advance(5)
    await hit_n(limiter, "key", 2)  # t=5
    clock.advance(4.75)
    full = await limiter.hit("key")  # t=9.75: all five still in the window
    clock.advance(0.25)
    freed = await hit_n(limiter, "key", 4)  # t=10: the three from t=0 have left

    assert not full.allowed and full.retry_after == 0.25
    assert [d.allowed for d in freed] == [True, True, True, False]
    assert freed[2].remaining == 0
    assert freed[3].retry_after == 5.0  # until the two from t=5 leave


async def test_no_window_ever_holds_more_than_the_limit(limiter_factory: LimiterFactory) -> None:
    clock = FakeClock()
    limiter = limiter_factory(RateLimitPolicy(10, window_seconds=10, lockout_seconds=0), clock)

    allowed_at = []
    for _ in range(160):  # one request every 0.25 s for 40 s
        if (await limiter.hit("key")).allowed:
            allowed_at.append(clock.now)
        clock.advance(0.25)

    assert len(allowed_at) == 40  # the limit is used in full, ten per window
    gaps = [later - earlier for earlier, later in zip(allowed_at, allowed_at[10:], strict=False)]
    assert min(gaps) >= 10  # any 11 admitted requests span at least a full window


async def test_concurrent_hits_admit_exactly_the_limit(limiter_factory: LimiterFactory) -> None:
    limiter = limiter_factory(RateLimitPolicy(), FakeClock())

    decisions = await asyncio.gather(*(limiter.hit("key") for _ in range(200)))

    allowed = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(allowed) == 150
    assert sorted(d.remaining for d in allowed) == list(range(150))
    assert {d.retry_after for d in refused} == {60.0}


def test_memory_limiter_is_thread_safe() -> None:
    limiter = MemoryRateLimiter(RateLimitPolicy(), clock=FakeClock())

    def hits(n: int) -> list[RateLimitDecision]:
        return asyncio.run(hit_n(limiter, "key", n))

    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = [d for batch in pool.map(hits, [25] * 8) for d in batch]

    assert sum(d.allowed for d in decisions) == 150


async def test_memory_limiter_drops_idle_keys() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(SMALL, clock=clock)
    for i in range(1000):
        await limiter.hit(f"key-{i}")
    await hit_n(limiter, "locked", 6)

    clock.advance(59.75)  # every window has passed, the lock-out has not
    await limiter.hit("other")
    assert limiter.key_count == 1002

    clock.advance(0.25)  # the lock-out is over: no key but "other" holds state
    await limiter.hit("other")
    assert limiter.key_count == 1
    assert (await limiter.hit("locked")).remaining == 4


@pytest.mark.redis
async def test_redis_limiters_share_the_limit(redis_prefix: str) -> None:
    """Two API processes, each with its own client, see one limit per key."""
    clock = FakeClock()
    one = RedisRateLimiter(SMALL, url=REDIS_URL, prefix=redis_prefix, clock=clock)
    two = RedisRateLimiter(SMALL, url=REDIS_URL, prefix=redis_prefix, clock=clock)
    try:
        first = await hit_n(one, "key", 3)
        second = await hit_n(two, "key", 2)
        over = await one.hit("key")
        locked = await two.hit("key")
    finally:
        await one.aclose()
        await two.aclose()

    assert [d.remaining for d in first + second] == [4, 3, 2, 1, 0]
    assert not over.allowed and over.retry_after == 60.0
    assert not locked.allowed


@pytest.mark.redis
async def test_redis_keys_are_prefixed_and_expire(redis_prefix: str) -> None:
    client = redis.asyncio.from_url(REDIS_URL)
    limiter = RedisRateLimiter(SMALL, client=client, prefix=redis_prefix, clock=FakeClock())
    try:
        await hit_n(limiter, "a", 6)
        await limiter.hit("b")
        keys = sorted([key async for key in client.scan_iter(match=f"{redis_prefix}*")])
        ttls = [await client.pttl(key) for key in keys]
        await limiter.aclose()
        assert await client.ping()  # a client it was given stays open
    finally:
        await client.aclose()

    assert keys == [
        f"{redis_prefix}{{a}}:lock".encode(),
        f"{redis_prefix}{{a}}:log".encode(),
        f"{redis_prefix}{{b}}:log".encode(),
    ]
    assert 59_000 < ttls[0] <= 60_000
    assert all(0 < ttl <= 10_000 for ttl in ttls[1:])


async def test_redis_limiter_needs_exactly_one_of_url_or_client() -> None:
    client = redis.asyncio.from_url(REDIS_URL)
    try:
        with pytest.raises(ValueError):
            RedisRateLimiter(SMALL)
        with pytest.raises(ValueError):
            RedisRateLimiter(SMALL, url=REDIS_URL, client=client)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "kwargs",
    [{"requests": 0}, {"window_seconds": 0}, {"lockout_seconds": -1}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RateLimitPolicy(**kwargs)


def test_importing_the_package_does_not_import_redis() -> None:
    code = "import sys, easel.ratelimit; assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
