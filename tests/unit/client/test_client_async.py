"""`AsyncClient` on the main paths: the same requests as `Client`, the same
errors, retries with awaited (fake) sleeps, and an asyncio concurrency limit."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from easel.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    RateLimit,
    RateLimitError,
)

T2I = "/v1/generation/stable-diffusion-v1-6/text-to-image"


async def test_account_balance_and_engines(server, async_client, clock):
    server.on("GET", "/v1/user/account", {"id": "u", "email": "a@b.c", "organizations": []})
    server.on("GET", "/v1/user/balance", {"credits": 3})
    server.on(
        "GET",
        "/v1/engines/list",
        [{"id": "sd", "name": "SD", "description": "", "type": "PICTURE"}],
    )

    account = await async_client.account()
    balance = await async_client.balance()
    options = await async_client.engine_options()
    await async_client.engines()

    assert account.email == "a@b.c"
    assert account.profile_picture is None
    assert balance.credits == 3.0
    assert options == [{"label": "SD", "value": "sd"}]
    assert server.paths() == [
        "GET /v1/user/account",
        "GET /v1/user/balance",
        "GET /v1/engines/list",
    ]
    assert server.last.headers["Authorization"] == "Bearer sk-test-123"
    clock.advance(3600.0)
    await async_client.engines()
    assert len(server.requests) == 4  # the cache expired after an hour


async def test_text_to_image(server, async_client):
    server.on("POST", T2I, server.artifacts(11))

    result = await async_client.text_to_image(
        "stable-diffusion-v1-6", "a lighthouse", negative_prompt="fog", steps=20
    )

    assert result.artifacts[0].seed == 11
    assert result.generation_id == "gen-1"
    assert json.loads(server.last.content) == {
        "text_prompts": [{"text": "a lighthouse", "weight": 1.0}, {"text": "fog", "weight": -1.0}],
        "steps": 20,
    }


async def test_image_to_image_masking_upscale_and_cancel(server, async_client):
    server.on("POST", "/v1/generation/sd/image-to-image", server.artifacts(1))
    server.on("POST", "/v1/generation/sd/image-to-image/masking", server.artifacts(2))
    server.on("POST", "/v1/generation/esrgan-v1-x2plus/image-to-image/upscale", server.artifacts(3))
    server.on("DELETE", "/v1/generation/gen-1", (200, {}))

    await async_client.image_to_image("sd", server.PNG, "x", image_strength=0.5)
    i2i = server.form(server.last)
    await async_client.masking("sd", server.PNG, server.PNG, prompt="y")
    masking = server.form(server.last)
    await async_client.upscale("esrgan-v1-x2plus", server.PNG, height=1024)
    upscale = server.form(server.last)
    await async_client.cancel("gen-1")

    assert i2i["init_image_mode"] == "IMAGE_STRENGTH"
    assert i2i["image_strength"] == "0.5"
    assert masking["mask_source"] == "MASK_IMAGE_WHITE"
    assert masking["mask_image"][2] == server.PNG
    assert upscale["height"] == "1024"
    assert server.last.method == "DELETE"


async def test_retry_on_500_reuses_idempotency_key(server, async_client, clock):
    server.on(
        "POST",
        T2I,
        server.v1_error(500, "server_error", "x"),
        httpx.RemoteProtocolError("dropped"),
        server.artifacts(5),
    )

    result = await async_client.text_to_image("stable-diffusion-v1-6", "x")

    assert result.artifacts[0].seed == 5
    assert clock.sleeps == [1.0, 2.0]
    assert len({r.headers["Idempotency-Key"] for r in server.requests}) == 1


async def test_429_retry_after_then_storm(server, async_client, clock):
    server.on(
        "GET",
        "/v1/user/balance",
        server.v1_error(429, "rate_limit_exceeded", "slow", headers={"Retry-After": "2"}),
    )

    with pytest.raises(RateLimitError) as caught:
        await async_client.balance()

    assert caught.value.retry_after == 2.0
    assert clock.sleeps == [2.0, 2.0, 2.0, 2.0]
    assert len(server.requests) == 5


async def test_401_is_not_retried(server, async_client, clock):
    server.on("GET", "/v1/user/balance", server.v1_error(401, "unauthorized", "bad key"))

    with pytest.raises(AuthenticationError, match="401 unauthorized: bad key"):
        await async_client.balance()
    assert clock.sleeps == []


async def test_connection_errors_exhausted(server, async_client):
    server.on("GET", "/v1/user/balance", httpx.ConnectError("refused"))

    with pytest.raises(APIConnectionError):
        await async_client.balance()
    assert len(server.requests) == 5


async def test_estimate_credits_falls_back_on_404(server, async_client):
    assert await async_client.estimate_credits("stable-diffusion-v1-6", samples=2) == 1.8


async def test_token_bucket_waits_are_awaited(server, make_async_client, clock):
    server.on("GET", "/v1/user/balance", {"credits": 1})
    client = make_async_client(rate_limit=RateLimit(requests=3, period=1.0, burst=1))

    for _ in range(3):
        await client.balance()

    assert clock.sleeps == pytest.approx([0.5, 0.5])


async def test_concurrency_limit(make_async_client):
    state = {"in_flight": 0, "peak": 0}
    release = asyncio.Event()

    async def handler(request):
        state["in_flight"] += 1
        state["peak"] = max(state["peak"], state["in_flight"])
        await release.wait()
        state["in_flight"] -= 1
        return httpx.Response(200, json={"credits": 1})

    client = make_async_client(handler, max_concurrency=2)
    tasks = [asyncio.create_task(client.balance()) for _ in range(5)]
    for _ in range(20):
        await asyncio.sleep(0)

    assert state["in_flight"] == 2
    release.set()
    results = await asyncio.gather(*tasks)

    assert [r.credits for r in results] == [1.0] * 5
    assert state["peak"] == 2


async def test_async_context_manager_closes():
    async with AsyncClient("k", transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        assert c.host == "https://api.stability.ai"
    assert c._http.is_closed
