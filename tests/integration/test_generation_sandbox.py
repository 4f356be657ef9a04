"""v1 generation on the real sandbox engines (tiny diffusers models), in process.

These are the semantics clients rely on: same request and seed give the same
bytes; pixels a mask protects come back unchanged; step_schedule_start 0
returns the init image; upscale sizes are exact; real weights load from a
local directory through the same code.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from easel.api.app import create_app
from easel.api.services import Services
from easel.engines.catalog import default_engines
from tests.factories import TestAccount, make_account, make_settings
from tests.images import mask_png, noise_png

SD = "stable-diffusion-v1-6"
INPAINT = "stable-inpainting-512-v2-0"


@pytest.fixture
async def client(
    tmp_path: Path, shared_models_dir: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, TestAccount, Services]]:
    settings = make_settings(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'easel.db'}",
        engine={"models_dir": shared_models_dir},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        account = make_account(services.accounts, services.billing, credits=1000)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://easel.test", timeout=300
        ) as http:
            yield http, account, services


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


async def test_same_request_and_seed_give_identical_bytes(
    client: tuple[httpx.AsyncClient, TestAccount, Services],
) -> None:
    http, account, _ = client
    headers = {**account.headers, "Accept": "image/png"}
    body = {"text_prompts": [{"text": "a lighthouse"}], "steps": 10, "seed": 1234}
    url = f"/v1/generation/{SD}/text-to-image"
    first = await http.post(url, headers=headers, json=body)
    second = await http.post(url, headers=headers, json=body)
    other = await http.post(url, headers=headers, json={**body, "seed": 1235})
    assert first.status_code == 200, first.text
    assert first.content == second.content
    assert first.content != other.content
    assert pixels(first.content).shape == (512, 512, 3)


async def test_masked_pixels_are_unchanged(
    client: tuple[httpx.AsyncClient, TestAccount, Services],
) -> None:
    http, account, _ = client
    init = noise_png(512, 512, seed=3)
    response = await http.post(
        f"/v1/generation/{INPAINT}/image-to-image/masking",
        headers={**account.headers, "Accept": "image/png"},
        files={"init_image": init, "mask_image": mask_png(512, 512, box=(0, 0, 256, 512))},
        data={"mask_source": "MASK_IMAGE_WHITE", "text_prompts[0][text]": "sea", "steps": "10"},
    )
    assert response.status_code == 200, response.text
    out, original = pixels(response.content), pixels(init)
    assert np.array_equal(out[:, 256:], original[:, 256:])  # protected: black in the mask
    assert not np.array_equal(out[:, :256], original[:, :256])  # repainted


async def test_step_schedule_start_zero_returns_the_init_image(
    client: tuple[httpx.AsyncClient, TestAccount, Services],
) -> None:
    http, account, _ = client
    init = noise_png(512, 512, seed=4)
    response = await http.post(
        f"/v1/generation/{SD}/image-to-image",
        headers={**account.headers, "Accept": "image/png"},
        files={"init_image": init},
        data={
            "init_image_mode": "STEP_SCHEDULE",
            "step_schedule_start": "0",
            "text_prompts[0][text]": "anything",
            "steps": "10",
        },
    )
    assert response.status_code == 200, response.text
    assert np.array_equal(pixels(response.content), pixels(init))


@pytest.mark.parametrize(
    ("engine", "size", "fields", "expected"),
    [
        ("esrgan-v1-x2plus", (300, 200), {}, (600, 400)),
        ("esrgan-v1-x2plus", (512, 384), {"width": 1024}, (1024, 768)),
        ("stable-diffusion-x4-latent-upscaler", (128, 96), {}, (256, 192)),
        ("stable-diffusion-x4-latent-upscaler", (128, 128), {"height": 512}, (512, 512)),
    ],
)
async def test_upscale_sizes_are_exact(
    client: tuple[httpx.AsyncClient, TestAccount, Services],
    engine: str,
    size: tuple[int, int],
    fields: dict[str, int],
    expected: tuple[int, int],
) -> None:
    http, account, _ = client
    response = await http.post(
        f"/v1/generation/{engine}/image-to-image/upscale",
        headers={**account.headers, "Accept": "image/png"},
        files={"image": noise_png(*size)},
        data={**{k: str(v) for k, v in fields.items()}, "steps": "10"},
    )
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == expected


async def test_an_engine_configured_with_a_local_model_directory(
    tmp_path: Path, shared_models_dir: Path
) -> None:
    """Real-weights path: `backend = "diffusers"` with `model` = a saved directory."""
    from easel.engines.tiny import ensure_tiny_model

    model_dir = ensure_tiny_model("sd", shared_models_dir / "sandbox")
    spec = next(s for s in default_engines() if s.id == "stable-diffusion-v1-5")
    engine = spec.model_copy(
        update={"backend": "diffusers", "model": str(model_dir), "description": "local"}
    )
    settings = make_settings(
        tmp_path / "data", f"sqlite:///{tmp_path / 'easel.db'}", engines=[engine]
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        account = make_account(services.accounts, services.billing)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=300) as h:
            listed = (await h.get("/v1/engines/list", headers=account.headers)).json()
            assert [e["id"] for e in listed] == ["stable-diffusion-v1-5"]
            response = await h.post(
                "/v1/generation/stable-diffusion-v1-5/text-to-image",
                headers=account.headers,
                json={"text_prompts": [{"text": "a lighthouse"}], "steps": 10, "seed": 9},
            )
    assert response.status_code == 200, response.text
    assert response.json()["artifacts"][0]["seed"] == 9
