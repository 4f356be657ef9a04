"""Happy paths of every `Client` method against a mocked v1 server: the
request it sends (method, path, headers, JSON or multipart fields) and the
typed result it reads."""

from __future__ import annotations

import io
import json
import re

import httpx
import pytest

import easel
from easel.client import (
    DEFAULT_HOST,
    Account,
    Balance,
    Client,
    Engine,
    MissingAPIKeyError,
    TextPrompt,
)

ACCOUNT = {
    "id": "user-1234",
    "email": "ada@example.com",
    "profile_picture": "https://example.com/p.png",
    "organizations": [
        {"id": "org-1", "name": "Personal", "role": "OWNER", "is_default": True},
        {"id": "org-2", "name": "Team", "role": "MEMBER", "is_default": False},
    ],
}
ENGINES = [
    {
        "id": "stable-diffusion-v1-6",
        "name": "Stable Diffusion v1.6",
        "description": "SD",
        "type": "PICTURE",
    },
    {"id": "esrgan-v1-x2plus", "name": "Real-ESRGAN x2", "description": "up", "type": "PICTURE"},
]
T2I = "/v1/generation/stable-diffusion-v1-6/text-to-image"
I2I = "/v1/generation/stable-diffusion-v1-6/image-to-image"
MASKING = "/v1/generation/stable-inpainting-v1-0/image-to-image/masking"
UPSCALE = "/v1/generation/esrgan-v1-x2plus/image-to-image/upscale"
LATENT = "/v1/generation/stable-diffusion-x4-latent-upscaler/image-to-image/upscale"


def test_account_sends_auth_and_client_headers(server, make_client):
    server.on("GET", "/v1/user/account", ACCOUNT)
    client = make_client(api_key="sk-abc")

    account = client.account()

    assert account == Account(
        id="user-1234",
        email="ada@example.com",
        profile_picture="https://example.com/p.png",
        organizations=account.organizations,
    )
    assert [o.id for o in account.organizations] == ["org-1", "org-2"]
    assert account.default_organization is not None
    assert account.default_organization.name == "Personal"
    request = server.last
    assert str(request.url) == f"{DEFAULT_HOST}/v1/user/account"
    assert request.headers["Authorization"] == "Bearer sk-abc"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Stability-Client-ID"] == "easel-python"
    assert request.headers["Stability-Client-Version"] == easel.__version__
    assert "Organization" not in request.headers
    assert "Idempotency-Key" not in request.headers


def test_organization_and_client_id_headers(server, make_client):
    server.on("GET", "/v1/user/balance", {"credits": 12.5})
    client = make_client(organization="org-2", client_id="my-plugin", client_version="1.2.1")

    assert client.balance() == Balance(credits=12.5)

    headers = server.last.headers
    assert headers["Organization"] == "org-2"
    assert headers["Stability-Client-ID"] == "my-plugin"
    assert headers["Stability-Client-Version"] == "1.2.1"


def test_engines_and_engine_options(server, client):
    server.on("GET", "/v1/engines/list", ENGINES)

    engines = client.engines()

    assert engines[0] == Engine("stable-diffusion-v1-6", "Stable Diffusion v1.6", "SD", "PICTURE")
    assert client.engine_options() == [
        {"label": "Stable Diffusion v1.6", "value": "stable-diffusion-v1-6"},
        {"label": "Real-ESRGAN x2", "value": "esrgan-v1-x2plus"},
    ]
    assert len(server.requests) == 1  # engine_options used the cache


def test_engines_cache_expires_after_ttl_and_refresh_bypasses(server, clock, make_client):
    server.on("GET", "/v1/engines/list", ENGINES[:1], ENGINES)
    client = make_client(engines_ttl=60.0)

    assert len(client.engines()) == 1
    clock.advance(59.0)
    assert len(client.engines()) == 1
    assert len(server.requests) == 1
    clock.advance(1.0)
    assert len(client.engines()) == 2
    assert len(server.requests) == 2
    assert len(client.engines(refresh=True)) == 2
    assert len(server.requests) == 3


def test_text_to_image_sends_only_set_fields_and_reads_artifacts(server, client):
    server.on("POST", T2I, server.artifacts(7, 8))

    result = client.text_to_image(
        "stable-diffusion-v1-6",
        "a lighthouse on a cliff",
        negative_prompt="blurry",
        width=768,
        height=512,
        cfg_scale=7,
        steps=30,
        samples=2,
        seed=123,
        sampler="K_DPMPP_2M",
        style_preset="photographic",
        clip_guidance_preset="FAST_BLUE",
        extras={"foo": 1},
    )

    request = server.last
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert re.fullmatch(r"[0-9a-f]{32}", request.headers["Idempotency-Key"])
    assert json.loads(request.content) == {
        "text_prompts": [
            {"text": "a lighthouse on a cliff", "weight": 1.0},
            {"text": "blurry", "weight": -1.0},
        ],
        "width": 768,
        "height": 512,
        "cfg_scale": 7,
        "steps": 30,
        "samples": 2,
        "seed": 123,
        "sampler": "K_DPMPP_2M",
        "style_preset": "photographic",
        "clip_guidance_preset": "FAST_BLUE",
        "extras": {"foo": 1},
    }
    assert [a.seed for a in result.artifacts] == [7, 8]
    assert result.artifacts[0].finish_reason == "SUCCESS"
    assert result.artifacts[0].to_bytes() == server.PNG
    assert result.request_id == "req-ok"
    assert result.generation_id == "gen-1"


def test_text_to_image_minimal_body_and_text_prompts(server, client):
    server.on("POST", T2I, server.artifacts(1))

    client.text_to_image(
        "stable-diffusion-v1-6",
        text_prompts=[TextPrompt("a cat", 0.7), {"text": "a hat", "weight": 0.3}],
    )

    assert json.loads(server.last.content) == {
        "text_prompts": [{"text": "a cat", "weight": 0.7}, {"text": "a hat", "weight": 0.3}]
    }


def test_caller_idempotency_key_is_sent(server, client):
    server.on("POST", T2I, server.artifacts(1))

    client.text_to_image("stable-diffusion-v1-6", "x", idempotency_key="my-key-1")

    assert server.last.headers["Idempotency-Key"] == "my-key-1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "prompt is required"),
        ({"prompt": "a", "text_prompts": [TextPrompt("b")]}, "not both"),
        ({"negative_prompt": "only negative"}, "prompt is required"),
    ],
)
def test_text_to_image_prompt_errors_send_nothing(server, client, kwargs, message):
    with pytest.raises(ValueError, match=message):
        client.text_to_image("stable-diffusion-v1-6", **kwargs)
    assert server.requests == []


def test_image_to_image_multipart_from_path(server, client, tmp_path):
    image = tmp_path / "start.png"
    image.write_bytes(server.PNG)
    server.on("POST", I2I, server.artifacts(5))

    result = client.image_to_image(
        "stable-diffusion-v1-6",
        image,
        "make it night",
        negative_prompt="sun",
        image_strength=0.35,
        cfg_scale=8.5,
        steps=40,
        samples=1,
        seed=9,
        sampler="K_EULER",
        style_preset="cinematic",
    )

    assert result.artifacts[0].seed == 5
    form = server.form(server.last)
    assert form == {
        "text_prompts[0][text]": "make it night",
        "text_prompts[0][weight]": "1.0",
        "text_prompts[1][text]": "sun",
        "text_prompts[1][weight]": "-1.0",
        "init_image_mode": "IMAGE_STRENGTH",
        "image_strength": "0.35",
        "cfg_scale": "8.5",
        "steps": "40",
        "samples": "1",
        "seed": "9",
        "sampler": "K_EULER",
        "style_preset": "cinematic",
        "init_image": ("start.png", "image/png", server.PNG),
    }
    assert re.fullmatch(r"[0-9a-f]{32}", server.last.headers["Idempotency-Key"])


def test_image_to_image_step_schedule_from_file_object(server, client):
    server.on("POST", I2I, server.artifacts(5))
    jpeg = b"\xff\xd8\xff\xe0" + bytes(20)

    client.image_to_image(
        "stable-diffusion-v1-6",
        io.BytesIO(jpeg),
        "x",
        step_schedule_start=0.6,
        step_schedule_end=0.1,
    )

    form = server.form(server.last)
    assert form["init_image_mode"] == "STEP_SCHEDULE"
    assert form["step_schedule_start"] == "0.6"
    assert form["step_schedule_end"] == "0.1"
    assert "image_strength" not in form
    assert form["init_image"] == ("init_image.jpg", "image/jpeg", jpeg)


def test_image_to_image_rejects_both_modes(server, client):
    with pytest.raises(ValueError, match="not both"):
        client.image_to_image(
            "stable-diffusion-v1-6", server.PNG, "x", image_strength=0.3, step_schedule_start=0.5
        )
    assert server.requests == []


def test_masking_with_mask_image(server, client):
    server.on("POST", MASKING, server.artifacts(3))
    mask = b"\x89PNG\r\n\x1a\nMASK"

    client.masking(
        "stable-inpainting-v1-0", server.PNG, mask, prompt="a red door", samples=2, seed=1
    )

    form = server.form(server.last)
    assert form["mask_source"] == "MASK_IMAGE_WHITE"
    assert form["init_image"] == ("init_image.png", "image/png", server.PNG)
    assert form["mask_image"] == ("mask_image.png", "image/png", mask)
    assert form["text_prompts[0][text]"] == "a red door"
    assert form["samples"] == "2"
    assert form["seed"] == "1"
    assert "cfg_scale" not in form


def test_masking_init_image_alpha_needs_no_mask(server, client):
    server.on("POST", MASKING, server.artifacts(3))

    client.masking("stable-inpainting-v1-0", server.PNG, mask_source="INIT_IMAGE_ALPHA", prompt="x")

    form = server.form(server.last)
    assert form["mask_source"] == "INIT_IMAGE_ALPHA"
    assert "mask_image" not in form


@pytest.mark.parametrize(
    ("mask", "source", "message"),
    [
        (None, "MASK_IMAGE_WHITE", "needs a mask_image"),
        (b"\x89PNG\r\n\x1a\n", "INIT_IMAGE_ALPHA", "not used"),
        (b"\x89PNG\r\n\x1a\n", "MASK_IMAGE_GREEN", "must be one of"),
    ],
)
def test_masking_argument_errors(server, client, mask, source, message):
    with pytest.raises(ValueError, match=message):
        client.masking("stable-inpainting-v1-0", server.PNG, mask, source, prompt="x")
    assert server.requests == []


def test_upscale_esrgan_sends_image_and_width_only(server, client):
    server.on("POST", UPSCALE, server.artifacts(0))

    result = client.upscale("esrgan-v1-x2plus", server.PNG, width=1024)

    assert result.artifacts[0].to_bytes() == server.PNG
    form = server.form(server.last)
    assert form == {"width": "1024", "image": ("image.png", "image/png", server.PNG)}
    assert "Idempotency-Key" in server.last.headers


def test_upscale_latent_sends_prompts_and_options(server, client):
    server.on("POST", LATENT, server.artifacts(0))

    client.upscale(
        "stable-diffusion-x4-latent-upscaler",
        server.PNG,
        height=2048,
        prompt="crisp",
        seed=4,
        steps=20,
        cfg_scale=6,
    )

    form = server.form(server.last)
    assert form["height"] == "2048"
    assert form["text_prompts[0][text]"] == "crisp"
    assert (form["seed"], form["steps"], form["cfg_scale"]) == ("4", "20", "6")
    assert "width" not in form


def test_upscale_rejects_width_and_height(server, client):
    with pytest.raises(ValueError, match="not both"):
        client.upscale("esrgan-v1-x2plus", server.PNG, width=1024, height=1024)
    assert server.requests == []


def test_cancel_sends_delete(server, client):
    server.on("DELETE", "/v1/generation/gen-42", (200, {}))

    assert client.cancel("gen-42") is None

    assert server.paths() == ["DELETE /v1/generation/gen-42"]
    assert "Idempotency-Key" not in server.last.headers


def test_host_and_key_from_environment(server, monkeypatch):
    monkeypatch.setenv("API_HOST", "http://easel.local:8000/")
    monkeypatch.setenv("EASEL_API_KEY", "sk-easel")
    server.on("GET", "/v1/user/balance", {"credits": 1})

    with Client(transport=httpx.MockTransport(server.handler), rate_limit=None) as client:
        client.balance()
        assert client.host == "http://easel.local:8000"

    assert str(server.last.url) == "http://easel.local:8000/v1/user/balance"
    assert server.last.headers["Authorization"] == "Bearer sk-easel"


def test_key_precedence_argument_then_stability_then_easel(server, monkeypatch):
    server.on("GET", "/v1/user/balance", {"credits": 1})
    transport = httpx.MockTransport(server.handler)
    monkeypatch.setenv("STABILITY_API_KEY", "sk-stability")
    monkeypatch.setenv("EASEL_API_KEY", "sk-easel")

    with Client(transport=transport) as client:
        client.balance()
    with Client("sk-arg", host="https://other.example", transport=transport) as client:
        client.balance()

    assert [r.headers["Authorization"] for r in server.requests] == [
        "Bearer sk-stability",
        "Bearer sk-arg",
    ]
    assert server.last.url.host == "other.example"


def test_missing_key_raises_before_any_request():
    with pytest.raises(MissingAPIKeyError, match="STABILITY_API_KEY"):
        Client()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost:8000", "http://localhost:8000"),
        ("api.example.com", "https://api.example.com"),
        ("https://api.stability.ai/", "https://api.stability.ai"),
    ],
)
def test_bare_hosts_get_a_scheme(host, expected):
    with Client("k", host=host) as client:
        assert client.host == expected
