"""Image-to-video and 3D against a real `easel serve`, on the sandbox engines.

The tiny SVD and the tiny Depth Anything run for real in the server's worker
process; the MP4 is decoded back with PyAV and the GLB loaded with trimesh.
"""

from __future__ import annotations

import base64
import io
import time

import av
import httpx
import pytest
import trimesh
from PIL import Image

from easel.engines.tiny_media import SVD_FRAMES
from tests.images import png_bytes
from tests.integration.conftest import RunningServer
from tests.integration.test_v2beta_server import credits


@pytest.fixture(scope="module")
def server(running_server: RunningServer) -> RunningServer:
    """The session's `easel serve`: a server start and its worker's model loads are
    the costliest part of a test here, and these tests need no server of their own."""
    return running_server


def post(server: RunningServer, path: str, data: dict[str, str], image: bytes) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v2beta/{path}",
        headers={"Authorization": f"Bearer {server.api_key}", "Accept": "application/json"},
        data=data,
        files={"image": ("in.png", image)},
        timeout=300,
    )


def test_image_to_video_submits_then_polls_to_an_mp4(server: RunningServer) -> None:
    before = credits(server)
    first_frame = Image.linear_gradient("L").resize((1024, 576)).convert("RGB")
    submitted = post(server, "image-to-video", {"seed": "11"}, png_bytes(first_frame))
    assert submitted.status_code == 200, submitted.text
    url = f"{server.url}/v2beta/image-to-video/result/{submitted.json()['id']}"
    headers = {"Authorization": f"Bearer {server.api_key}", "Accept": "video/*"}
    deadline = time.monotonic() + 300
    while (polled := httpx.get(url, headers=headers)).status_code == 202:
        assert time.monotonic() < deadline, "the video did not finish"
        time.sleep(0.2)
    assert polled.status_code == 200, polled.text
    assert (polled.headers["content-type"], polled.headers["seed"]) == ("video/mp4", "11")
    with av.open(io.BytesIO(polled.content)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        sizes = [(frame.width, frame.height) for frame in container.decode(video=0)]
    assert sizes == [(1024, 576)] * SVD_FRAMES
    as_json = httpx.get(url, headers={**headers, "Accept": "application/json"}).json()
    assert base64.b64decode(as_json["video"]) == polled.content
    assert before - credits(server) == pytest.approx(20)


@pytest.mark.parametrize(
    ("service", "price"), [("stable-fast-3d", 10), ("stable-point-aware-3d", 4)]
)
def test_3d_answers_a_glb_that_loads(server: RunningServer, service: str, price: float) -> None:
    before = credits(server)
    subject = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    subject.paste(Image.linear_gradient("L").convert("RGBA").resize((128, 128)), (64, 64))
    response = post(server, f"3d/{service}", {"texture_resolution": "512"}, png_bytes(subject))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "model/gltf-binary"
    mesh = trimesh.load(io.BytesIO(response.content), file_type="glb", force="mesh")
    assert len(mesh.vertices) > 0 and len(mesh.faces) > 0
    assert before - credits(server) == pytest.approx(price)
