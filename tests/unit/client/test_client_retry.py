"""Retries: what is retried (429, 5xx, dropped connections, timeouts), what
never is (400/401/403/404), how long the client waits (recorded by the fake
clock, never slept for real), and the one Idempotency-Key per generation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from easel.client import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TokenBucket,
)
from easel.client._retry import parse_retry_after

T2I = "/v1/generation/stable-diffusion-v1-6/text-to-image"
BALANCE = "/v1/user/balance"


def generate(client):
    return client.text_to_image("stable-diffusion-v1-6", "a lighthouse")


def test_500_then_success_retries_once(server, client, clock):
    server.on("POST", T2I, server.v1_error(500, "server_error", "oops"), server.artifacts(1))

    result = generate(client)

    assert result.artifacts[0].seed == 1
    assert len(server.requests) == 2
    assert clock.sleeps == [1.0]  # full jitter at its upper bound: backoff_base * 2**0


@pytest.mark.parametrize(
    ("status", "name"),
    [(400, "bad_request"), (401, "unauthorized"), (403, "permission_denied"), (404, "not_found")],
)
def test_client_errors_are_never_retried(server, client, clock, status, name):
    server.on("POST", T2I, server.v1_error(status, name, "no"))

    with pytest.raises(Exception) as caught:
        generate(client)

    assert caught.value.status == status
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_5xx_backoff_grows_exponentially_and_caps(server, make_client, clock):
    server.on("GET", BALANCE, server.v1_error(503, "server_overloaded", "busy"))
    client = make_client(retry=RetryPolicy(max_retries=6, jitter=lambda low, high: high))

    with pytest.raises(ServerError):
        client.balance()

    assert len(server.requests) == 7
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]


def test_429_honours_retry_after(server, client, clock):
    server.on(
        "POST",
        T2I,
        server.v1_error(429, "rate_limit_exceeded", "slow down", headers={"Retry-After": "7"}),
        server.artifacts(3),
    )

    assert generate(client).artifacts[0].seed == 3
    assert clock.sleeps == [7.0]


def test_retry_after_on_503_is_honoured(server, client, clock):
    server.on(
        "GET",
        BALANCE,
        server.v1_error(503, "server_overloaded", "busy", headers={"Retry-After": "3"}),
        {"credits": 1},
    )

    client.balance()

    assert clock.sleeps == [3.0]


def test_429_storm_exhausts_attempts(server, make_client, clock):
    server.on("POST", T2I, server.v1_error(429, "rate_limit_exceeded", "slow down"))
    client = make_client(retry=RetryPolicy(jitter=lambda low, high: low))

    with pytest.raises(RateLimitError) as caught:
        generate(client)

    assert len(server.requests) == 5  # 1 attempt + 4 retries
    # No Retry-After: a 5 s first wait, doubling, capped at 20 s.
    assert clock.sleeps == [5.0, 10.0, 20.0, 20.0]
    assert caught.value.status == 429
    assert caught.value.retry_after is None


def test_retry_after_longer_than_the_limit_is_raised_at_once(server, client, clock):
    server.on(
        "GET",
        BALANCE,
        server.v1_error(429, "rate_limit_exceeded", "locked", headers={"Retry-After": "600"}),
    )

    with pytest.raises(RateLimitError) as caught:
        client.balance()

    assert caught.value.retry_after == 600.0
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_429_pauses_the_shared_bucket(server, make_client, clock):
    bucket = TokenBucket(RateLimit(requests=150, period=10.0), clock=clock)
    server.on(
        "GET",
        BALANCE,
        server.v1_error(429, "rate_limit_exceeded", "slow", headers={"Retry-After": "4"}),
        {"credits": 1},
    )
    client = make_client(rate_limit=bucket)

    client.balance()

    assert clock.sleeps == [4.0]
    bucket.pause(2.0)  # another 429 elsewhere: every request waits
    assert bucket.reserve() == pytest.approx(2.0)


@pytest.mark.parametrize(
    "error",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.ReadTimeout("timed out"),
    ],
)
def test_dropped_connections_are_retried(server, client, clock, error):
    server.on("POST", T2I, error, error, server.artifacts(9))

    assert generate(client).artifacts[0].seed == 9
    assert len(server.requests) == 3
    assert clock.sleeps == [1.0, 2.0]


def test_connection_errors_exhausted_raise_api_connection_error(server, client):
    error = httpx.ConnectError("[Errno 111] Connection refused")
    server.on("GET", BALANCE, error)

    with pytest.raises(APIConnectionError) as caught:
        client.balance()

    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.__cause__ is error
    assert "Connection refused" in str(caught.value)
    assert len(server.requests) == 5


def test_timeouts_exhausted_raise_api_timeout_error(server, client):
    server.on("GET", BALANCE, httpx.ReadTimeout("timed out"))

    with pytest.raises(APITimeoutError):
        client.balance()


def test_unsupported_protocol_is_not_retried(make_client, clock):
    def handler(request):
        raise httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'.")

    with pytest.raises(APIConnectionError):
        make_client(handler).balance()
    assert clock.sleeps == []


def test_every_retry_of_a_generation_reuses_one_idempotency_key(server, client):
    server.on(
        "POST",
        "/v1/generation/stable-diffusion-v1-6/image-to-image",
        server.v1_error(502, "bad_gateway", "x"),
        httpx.RemoteProtocolError("dropped"),
        server.v1_error(429, "rate_limit_exceeded", "x"),
        server.artifacts(1),
    )

    client.image_to_image("stable-diffusion-v1-6", server.PNG, "x", image_strength=0.4)
    client.image_to_image("stable-diffusion-v1-6", server.PNG, "x", image_strength=0.4)

    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert len(keys) == 5
    assert len(set(keys[:4])) == 1  # one key for all four attempts
    assert keys[4] != keys[0]  # a new call gets a new key
    # Every attempt re-sent the full multipart body.
    assert {server.form(r)["init_image"][2] for r in server.requests} == {server.PNG}


def test_max_retries_zero_disables_retrying(server, make_client, clock):
    server.on("GET", BALANCE, server.v1_error(500, "server_error", "x"))

    with pytest.raises(ServerError):
        make_client(retry=RetryPolicy(max_retries=0)).balance()
    assert len(server.requests) == 1


def test_bad_request_is_raised_with_body(server, client):
    server.on("POST", T2I, server.v1_error(400, "invalid_samples", "samples must be <= 10"))

    with pytest.raises(BadRequestError, match="invalid_samples: samples must be <= 10"):
        generate(client)


# -- the policy itself --------------------------------------------------------


def test_policy_full_jitter_bounds():
    seen = []

    def jitter(low, high):
        seen.append((low, high))
        return high / 2

    policy = RetryPolicy(backoff_base=0.5, backoff_max=20.0, jitter=jitter)

    assert [policy.next_delay(n) for n in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert seen == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 4.0)]
    assert policy.next_delay(4) is None


def test_policy_never_retries_4xx_other_than_429():
    policy = RetryPolicy()
    for status in (400, 401, 402, 403, 404, 409, 413, 422):
        assert policy.next_delay(0, status=status) is None
    assert policy.next_delay(0, status=429, retry_after=1.0) == 1.0


def test_policy_rejects_negative_values():
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_base=-0.1)


def test_parse_retry_after_seconds_and_dates():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
