"""`estimate_credits()`: from easel's ``GET /v1/engines/pricing`` when the
server publishes it, from the built-in defaults on 404 (Stability)."""

from __future__ import annotations

import pytest

from easel.client import DEFAULT_PRICES, EnginePrice, RetryPolicy, ServerError

PRICING = "/v1/engines/pricing"
PRICES = [
    {
        "engine_id": "my-sd",
        "kind": "generate",
        "credits_per_image": 2.0,
        "base_pixels": 512 * 512,
        "base_steps": 30,
    },
    {
        "engine_id": "my-sd",
        "kind": "inpaint",
        "credits_per_image": 3.0,
        "base_pixels": 512 * 512,
        "base_steps": 30,
    },
    {
        "engine_id": "my-up",
        "kind": "upscale",
        "credits_per_image": 0.5,
        "base_pixels": 512 * 512,
        "base_steps": 30,
    },
]


def test_estimate_from_server_price_list(server, client):
    server.on("GET", PRICING, PRICES)

    # 2.0 * 2 samples * (1024*512 / 512*512) * (60 / 30)
    assert client.estimate_credits("my-sd", width=1024, height=512, steps=60, samples=2) == 16.0
    assert client.estimate_credits("my-sd", kind="masking") == 3.0
    assert client.estimate_credits("my-up", kind="upscale", width=4096, samples=3) == 1.5
    assert len(server.requests) == 1  # the price list is cached
    assert client.pricing()[0] == EnginePrice("my-sd", "generate", 2.0, 262144, 30)


def test_estimate_rounds_to_four_decimals(server, client):
    server.on("GET", PRICING, PRICES)

    assert client.estimate_credits("my-sd", steps=7) == round(2.0 * 7 / 30, 4) == 0.4667


def test_engine_missing_from_server_list_uses_defaults(server, client):
    server.on("GET", PRICING, PRICES)

    assert client.estimate_credits("esrgan-v1-x2plus", kind="upscale") == 0.2


def test_404_falls_back_to_builtin_defaults(server, client):
    server.on("GET", PRICING, server.v1_error(404, "not_found", "no such route"))

    assert client.pricing() == list(DEFAULT_PRICES)
    sdxl = "stable-diffusion-xl-1024-v1-0"
    assert client.estimate_credits(sdxl, width=1024, height=1024) == 0.9
    assert client.estimate_credits("stable-diffusion-v1-6") == 0.9
    assert client.estimate_credits("stable-diffusion-v1-6", width=1024, height=1024) == 3.6
    assert client.estimate_credits("stable-diffusion-v1-6", samples=4, steps=15) == 1.8
    assert client.estimate_credits("esrgan-v1-x2plus", kind="upscale") == 0.2
    assert client.estimate_credits("stable-diffusion-x4-latent-upscaler", kind="upscale") == 12.0
    assert client.estimate_credits("some-new-engine") == 0.9  # generic SD estimate
    assert len(server.requests) == 1  # the fallback is cached too


def test_upscaler_priced_flat_whatever_kind_is_passed(server, client):
    server.on("GET", PRICING, server.v1_error(404, "not_found", "x"))

    assert client.estimate_credits("esrgan-v1-x2plus", width=2048, height=2048) == 0.2


def test_unknown_kind_is_rejected(server, client):
    server.on("GET", PRICING, PRICES)

    with pytest.raises(ValueError, match="kind must be one of"):
        client.estimate_credits("my-sd", kind="video")


def test_server_errors_are_not_hidden_by_the_fallback(server, make_client):
    server.on("GET", PRICING, server.v1_error(500, "server_error", "x"))

    with pytest.raises(ServerError):
        make_client(retry=RetryPolicy(max_retries=0)).estimate_credits("my-sd")


def test_rows_of_kinds_the_client_does_not_estimate_are_skipped(server, client):
    """A newer server lists v2beta's per-call services (edit, control, video, 3d)."""
    per_call = {"engine_id": "stable-image-erase", "kind": "edit", "credits_per_image": 5.0}
    server.on("GET", PRICING, [*PRICES, per_call])

    assert [p.engine_id for p in client.pricing()] == ["my-sd", "my-sd", "my-up"]
    assert client.estimate_credits("my-sd") == 2.0
