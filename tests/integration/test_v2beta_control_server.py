"""Every v2beta control operation against a real `easel serve`, on the sandbox engines.

The tiny SDXL runs for real with the tiny ControlNet (sketch, structure, style
transfer) and the tiny IP-Adapter (style, style transfer), loaded through
diffusers' own loaders; the answers are decoded, their sizes and formats
checked, and the credits read back.
"""

from __future__ import annotations

import base64

import pytest
from PIL import Image, ImageDraw

from tests.images import noise_png, png_bytes
from tests.integration.conftest import RunningServer
from tests.integration.test_v2beta_server import call, credits, decoded


@pytest.fixture(scope="module")
def server(running_server: RunningServer) -> RunningServer:
    """The session's `easel serve`: a server start and its worker's model loads are
    the costliest part of a test here, and these tests need no server of their own."""
    return running_server


def sketch(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).ellipse((8, 8, width - 8, height - 8), outline="black", width=3)
    return png_bytes(image)


@pytest.mark.parametrize(
    ("path", "data", "files", "price", "size", "fmt"),
    [
        (
            "control/sketch",
            {"prompt": "a house", "control_strength": "0.8"},
            {"image": sketch(200, 150)},
            5,
            (200, 150),
            "png",
        ),
        (
            "control/structure",
            {"prompt": "a house", "output_format": "jpeg"},
            {"image": noise_png(160, 96)},
            5,
            (160, 96),
            "jpeg",
        ),
        (
            "control/style",
            {"prompt": "a house", "aspect_ratio": "16:9", "output_format": "webp"},
            {"image": noise_png(96, 64)},
            5,
            (1344, 768),
            "webp",
        ),
        (
            "control/style-transfer",
            {"change_strength": "0.5"},
            {"init_image": noise_png(64, 64), "style_image": noise_png(80, 64, seed=2)},
            8,
            (1024, 1024),
            "png",
        ),
    ],
)
def test_control_operations_return_the_image_and_charge_their_price(
    server: RunningServer,
    path: str,
    data: dict[str, str],
    files: dict[str, bytes],
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


def test_json_mode_and_the_same_seed_give_the_same_image(server: RunningServer) -> None:
    data = {"prompt": "a house", "seed": "11"}
    files = {"image": sketch(128, 96)}
    first = call(server, "control/sketch", data, files, accept="application/json")
    assert first.headers["content-type"] == "application/json; type=image/png"
    body = first.json()
    assert (body["seed"], body["finish_reason"]) == (11, "SUCCESS")
    again = call(server, "control/sketch", data, files)
    assert base64.b64decode(body["image"]) == again.content


def test_errors_over_real_http_are_free(server: RunningServer) -> None:
    before = credits(server)
    response = call(server, "control/style", {"prompt": "x"}, {"image": noise_png(300, 64)})
    body = response.json()
    assert (response.status_code, body["name"]) == (400, "invalid_image_dimensions")
    assert body["errors"][0].startswith("image: the aspect ratio")
    assert credits(server) == before
