"""Every v2beta stable-image operation against a real `easel serve`, on the sandbox engines.

The tiny models run for real (SD3 for ultra and sd3, SDXL for core and the
diffusion upscalers, an RRDB network for fast), so the files that come back
are decoded and their sizes and formats checked, and credits are read back.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.images import noise_png
from tests.integration.conftest import RunningServer


@pytest.fixture(scope="module")
def server(running_server: RunningServer) -> RunningServer:
    """The session's `easel serve`: a server start and its worker's model loads are
    the costliest part of a test here, and these tests need no server of their own."""
    return running_server


def call(
    server: RunningServer,
    path: str,
    data: dict[str, str],
    files: dict[str, bytes] | None = None,
    accept: str = "image/*",
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v2beta/stable-image/{path}",
        headers={"Authorization": f"Bearer {server.api_key}", "Accept": accept},
        data=data,
        files={"none": ("", b""), **{k: ("in.png", v) for k, v in (files or {}).items()}},
        timeout=300,
    )


def credits(server: RunningServer) -> float:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    balance: float = httpx.get(f"{server.url}/v1/user/balance", headers=headers).json()["credits"]
    return balance


def decoded(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


@pytest.mark.parametrize(
    ("path", "data", "files", "price", "size", "fmt"),
    [
        ("generate/ultra", {"prompt": "a lighthouse"}, None, 8, (1024, 1024), "png"),
        (
            "generate/ultra",
            {"prompt": "a lighthouse", "strength": "0.7", "output_format": "webp"},
            {"image": noise_png(320, 240)},
            8,
            (1152, 896),
            "webp",
        ),
        ("generate/core", {"prompt": "a fox", "aspect_ratio": "16:9"}, None, 3, (1344, 768), "png"),
        (
            "generate/sd3",
            {"prompt": "a fox", "model": "sd3.5-large-turbo", "output_format": "jpeg"},
            None,
            4,
            (1024, 1024),
            "jpeg",
        ),
        (
            "generate/sd3",
            {"prompt": "a fox", "mode": "image-to-image", "strength": "0.5"},
            {"image": noise_png(256, 256)},
            6.5,
            (1024, 1024),
            "png",
        ),
        ("upscale/fast", {}, {"image": noise_png(64, 48)}, 2, (256, 192), "png"),
        (
            "upscale/conservative",
            {"prompt": "a texture", "output_format": "jpeg"},
            {"image": noise_png(64, 64)},
            40,
            (3112, 3112),
            "jpeg",
        ),
    ],
)
def test_sync_operations_return_the_image_and_charge_their_price(
    server: RunningServer,
    path: str,
    data: dict[str, str],
    files: dict[str, bytes] | None,
    price: float,
    size: tuple[int, int],
    fmt: str,
) -> None:
    before = credits(server)
    response = call(server, path, data, files)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"image/{fmt}"
    assert response.headers["finish-reason"] == "SUCCESS"
    image = decoded(response.content)
    assert (image.format.lower(), image.size) == (fmt, size)
    assert before - credits(server) == pytest.approx(price)


def test_json_mode_over_real_http(server: RunningServer) -> None:
    response = call(server, "generate/sd3", {"prompt": "x", "seed": "9"}, accept="application/json")
    assert response.headers["content-type"] == "application/json; type=image/png"
    body = response.json()
    assert (body["seed"], body["finish_reason"]) == (9, "SUCCESS")
    assert decoded(base64.b64decode(body["image"])).size == (1024, 1024)


def test_creative_upscale_submits_then_polls_to_the_result(server: RunningServer) -> None:
    before = credits(server)
    submitted = call(
        server,
        "upscale/creative",
        {"prompt": "a texture", "output_format": "jpeg"},
        {"image": noise_png(64, 64)},
    )
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["id"]
    headers = {"Authorization": f"Bearer {server.api_key}"}
    seen = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        polled = httpx.get(f"{server.url}/v2beta/results/{job_id}", headers=headers)
        seen.add(polled.status_code)
        if polled.status_code != 202:
            break
        assert polled.json()["status"] == "in-progress"
        time.sleep(0.5)
    assert polled.status_code == 200, polled.text
    assert 202 in seen
    assert decoded(polled.content).size == (3152, 3152)
    assert before - credits(server) == pytest.approx(60)


def test_errors_over_real_http_have_the_v2beta_shape(server: RunningServer, tmp_path: Path) -> None:
    response = call(server, "generate/core", {"prompt": "x", "aspect_ratio": "3:1"})
    body = response.json()
    assert response.status_code == 400
    assert set(body) == {"id", "name", "errors"} and body["errors"][0].startswith("aspect_ratio")
    missing = httpx.get(
        f"{server.url}/v2beta/results/" + "f" * 64,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    assert (missing.status_code, missing.json()["name"]) == (404, "generation_not_found")
