"""Client-side throttling (token bucket on a fake clock) and the concurrency
limit of the sync client."""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from easel.client import RateLimit, TokenBucket


def test_default_limit_is_stability_150_per_10_seconds():
    limit = RateLimit()

    assert (limit.requests, limit.period) == (150, 10.0)
    assert limit.capacity == 30
    assert limit.refill_rate == pytest.approx(12.0)  # 30 + 12/s * 10 s = 150


def test_bucket_allows_a_burst_then_spaces_requests(clock):
    bucket = TokenBucket(RateLimit(requests=4, period=2.0, burst=2), clock=clock)  # 1 token/s

    waits = [bucket.reserve() for _ in range(4)]

    assert waits == pytest.approx([0.0, 0.0, 1.0, 2.0])
    clock.advance(5.0)  # refills to the burst size, not beyond
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_bucket_never_exceeds_the_limit_in_any_window(clock):
    limit = RateLimit()  # 150 per 10 s
    bucket = TokenBucket(limit, clock=clock)
    rng = random.Random(7)
    sent = []
    for _ in range(1500):
        wait = bucket.reserve()
        clock.advance(wait)
        sent.append(clock.now)
        if rng.random() < 0.05:
            clock.advance(rng.uniform(0, 15))  # idle spells let the bucket refill

    for i, start in enumerate(sent):
        in_window = sum(1 for t in sent[i:] if t < start + limit.period - 1e-9)
        assert in_window <= limit.requests


def test_pause_holds_every_caller(clock):
    bucket = TokenBucket(RateLimit(requests=10, period=1.0, burst=5), clock=clock)

    bucket.pause(60.0)

    assert bucket.reserve() == pytest.approx(60.0)
    assert bucket.reserve() == pytest.approx(60.0)
    clock.advance(60.0)
    assert bucket.reserve() == 0.0  # the pause let no tokens pile up beyond the burst


@pytest.mark.parametrize(
    "kwargs",
    [{"requests": 1}, {"period": 0}, {"requests": 10, "burst": 10}, {"burst": 0}],
)
def test_invalid_limits_are_rejected(kwargs):
    with pytest.raises(ValueError):
        RateLimit(**kwargs)


def test_client_waits_for_tokens(server, make_client, clock):
    server.on("GET", "/v1/user/balance", {"credits": 1})
    client = make_client(rate_limit=RateLimit(requests=3, period=1.0, burst=1))  # 2 tokens/s

    for _ in range(4):
        client.balance()

    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5])
    assert len(server.requests) == 4


def test_clients_sharing_a_bucket_share_the_limit(server, make_client, clock):
    server.on("GET", "/v1/user/balance", {"credits": 1})
    bucket = TokenBucket(RateLimit(requests=3, period=1.0, burst=1), clock=clock)
    first, second = make_client(rate_limit=bucket), make_client(rate_limit=bucket)

    first.balance()
    second.balance()

    assert clock.sleeps == pytest.approx([0.5])


def test_concurrency_limit_bounds_in_flight_requests(make_client):
    lock = threading.Lock()
    state = {"in_flight": 0, "peak": 0, "done": 0}
    two_in = threading.Event()
    release = threading.Event()

    def handler(request):
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            if state["in_flight"] == 2:
                two_in.set()
        release.wait(5)
        with lock:
            state["in_flight"] -= 1
            state["done"] += 1
        return httpx.Response(200, json={"credits": 1})

    client = make_client(handler, max_concurrency=2)
    threads = [threading.Thread(target=client.balance) for _ in range(6)]
    for thread in threads:
        thread.start()

    assert two_in.wait(5)
    time.sleep(0.02)  # give the other four the chance to (wrongly) get in
    assert state["in_flight"] == 2
    release.set()
    for thread in threads:
        thread.join(5)

    assert state == {"in_flight": 0, "peak": 2, "done": 6}


def test_invalid_concurrency_is_rejected(make_client):
    with pytest.raises(ValueError, match="max_concurrency"):
        make_client(max_concurrency=0)
