"""Every v2beta edit service against a real `easel serve`, on the sandbox engines.

The tiny models run for real (SD inpainting for erase, inpaint and outpaint,
CLIPSeg then SD inpainting for the searches, U²-Net for remove-background,
both for replace-background-and-relight), so what comes back is decoded and
checked: size, format, the pixels each service must keep, a real alpha
channel, and the credits charged.
"""

from __future__ import annotations

import base64
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.images import mask_png, noise_png
from tests.integration.conftest import RunningServer
from tests.integration.test_v2beta_server import credits, decoded

IMAGE = noise_png(96, 80, seed=4)
MASK_BOX = (30, 20, 60, 50)


@pytest.fixture(scope="module")
def server(running_server: RunningServer) -> RunningServer:
    """The session's `easel serve`: a server start and its worker's model loads are
    the costliest part of a test here, and these tests need no server of their own."""
    return running_server


def edit(
    server: RunningServer,
    path: str,
    data: dict[str, str],
    files: dict[str, bytes],
    accept: str = "image/*",
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v2beta/stable-image/edit/{path}",
        headers={"Authorization": f"Bearer {server.api_key}", "Accept": accept},
        data=data,
        files={k: (f"{k}.png", v) for k, v in files.items()},
        timeout=300,
    )


def rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize(
    ("path", "data", "files", "price", "size", "fmt"),
    [
        ("erase", {"grow_mask": "2"}, {"mask": mask_png(96, 80, box=MASK_BOX)}, 5, (96, 80), "png"),
        (
            "inpaint",
            {"prompt": "a red ball", "grow_mask": "0"},
            {"mask": mask_png(96, 80, box=MASK_BOX)},
            5,
            (96, 80),
            "png",
        ),
        ("outpaint", {"left": "32", "up": "16"}, {}, 4, (128, 96), "png"),
        (
            "search-and-replace",
            {"prompt": "a dog", "search_prompt": "cat", "output_format": "webp"},
            {},
            5,
            (96, 80),
            "webp",
        ),
        (
            "search-and-recolor",
            {"prompt": "blue", "select_prompt": "cat", "output_format": "jpeg"},
            {},
            5,
            (96, 80),
            "jpeg",
        ),
        ("remove-background", {"output_format": "webp"}, {}, 5, (96, 80), "webp"),
    ],
)
def test_each_edit_runs_on_its_tiny_model_and_charges_its_price(
    server: RunningServer,
    path: str,
    data: dict[str, str],
    files: dict[str, bytes],
    price: float,
    size: tuple[int, int],
    fmt: str,
) -> None:
    before = credits(server)
    response = edit(server, path, data, {"image": IMAGE, **files})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"image/{fmt}"
    image = decoded(response.content)
    assert (image.format.lower(), image.size) == (fmt, size)
    assert before - credits(server) == pytest.approx(price)
    source = rgb(decoded(IMAGE))
    if path == "inpaint":  # grow_mask 0: everything outside the box is the input's
        x0, y0, x1, y1 = MASK_BOX
        outside = np.ones((80, 96), dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(rgb(image)[outside], source[outside])
        assert not np.array_equal(rgb(image)[~outside], source[~outside])
    if path == "outpaint":
        assert np.array_equal(rgb(image)[16:, 32:], source)
    if path == "remove-background":
        alpha = np.asarray(image.getchannel("A"))
        assert image.mode == "RGBA" and alpha.min() == 0 and alpha.max() == 255


def test_json_mode_and_an_error_over_real_http(server: RunningServer) -> None:
    response = edit(
        server,
        "remove-background",
        {"output_format": "png"},
        {"image": IMAGE},
        accept="application/json",
    )
    assert response.headers["content-type"] == "application/json; type=image/png"
    cutout = Image.open(io.BytesIO(base64.b64decode(response.json()["image"])))
    assert (cutout.mode, cutout.size) == ("RGBA", (96, 80))
    before = credits(server)
    refused = edit(server, "remove-background", {"output_format": "jpeg"}, {"image": IMAGE})
    assert refused.status_code == 400 and refused.json()["errors"][0].startswith("output_format")
    assert credits(server) == before


def test_replace_background_and_relight_submits_then_polls_to_the_image(
    server: RunningServer,
) -> None:
    before = credits(server)
    submitted = edit(
        server,
        "replace-background-and-relight",
        {"background_prompt": "a beach", "light_source_direction": "left", "output_format": "webp"},
        {"subject_image": IMAGE, "light_reference": noise_png(64, 64, seed=5)},
    )
    assert submitted.status_code == 200, submitted.text
    url = f"{server.url}/v2beta/results/{submitted.json()['id']}"
    headers = {"Authorization": f"Bearer {server.api_key}"}
    deadline = time.monotonic() + 300
    while (polled := httpx.get(url, headers=headers)).status_code == 202:
        assert time.monotonic() < deadline, "the relight did not finish"
        time.sleep(0.2)
    assert polled.status_code == 200, polled.text
    assert polled.headers["content-type"] == "image/webp"
    assert decoded(polled.content).size == (96, 80)
    as_json = httpx.get(url, headers={**headers, "Accept": "application/json"}).json()
    assert base64.b64decode(as_json["image"]) == polled.content
    assert before - credits(server) == pytest.approx(8)
    refused = edit(server, "replace-background-and-relight", {}, {"subject_image": IMAGE})
    assert refused.status_code == 400 and refused.json()["errors"][0].startswith("background_")
    assert before - credits(server) == pytest.approx(8)
