"""v2beta image-to-video and 3D through the API, on fake engines: the asynchronous video
protocol and its negotiation, GLB answers whatever Accept says, errors, credits."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import threading

import anyio
import av
import httpx
import pytest
import trimesh
from PIL import Image

from easel.api.services import Services
from tests.factories import TestAccount, make_account
from tests.fakes import FAKE_FRAMES, FakeEngine, noise
from tests.images import noise_png
from tests.unit.api.test_v2beta import credits, error

pytestmark = pytest.mark.usefixtures("fake_engines")

VIDEO = "/v2beta/image-to-video"
FAST_3D = "/v2beta/3d/stable-fast-3d"
POINT_3D = "/v2beta/3d/stable-point-aware-3d"


async def post(
    client: httpx.AsyncClient,
    path: str,
    account: TestAccount | None,
    data: dict[str, str] | None = None,
    image: bytes | None = None,
    accept: str | None = None,
) -> httpx.Response:
    headers = dict(account.headers if account else {})
    if accept is not None:
        headers["Accept"] = accept
    files = {"none": ("", b"")} | ({"image": ("image.png", image)} if image else {})
    return await client.post(path, headers=headers, data=data or {}, files=files)


async def finished(client: httpx.AsyncClient, url: str, account: TestAccount) -> httpx.Response:
    """Poll `url` until the job is done (the fake engines finish at once when not gated)."""
    for _ in range(500):
        response = await client.get(url, headers=account.headers)
        if response.status_code != 202:
            return response
        await asyncio.sleep(0.01)
    raise AssertionError(f"{url} still running")


def decoded_frames(mp4: bytes) -> list[tuple[int, int]]:
    with av.open(io.BytesIO(mp4)) as container:
        return [(frame.width, frame.height) for frame in container.decode(video=0)]


def glb_json(glb: bytes) -> dict[str, object]:
    """The JSON chunk of a binary glTF, after checking its header."""
    magic, version, length = struct.unpack("<4sII", glb[:12])
    assert (magic, version, length) == (b"glTF", 2, len(glb))
    chunk_length, chunk_type = struct.unpack("<I4s", glb[12:20])
    assert chunk_type == b"JSON"
    document: dict[str, object] = json.loads(glb[20 : 20 + chunk_length])
    return document


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    noise(width, height, 3).save(buffer, format="JPEG")
    return buffer.getvalue()


# -- image-to-video -----------------------------------------------------------------------------


async def test_image_to_video_runs_asynchronously_and_answers_an_mp4(
    client: httpx.AsyncClient, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    account = make_account(services.accounts, services.billing, credits=50)
    engine = FakeEngine(services.engines.spec("stable-video-diffusion"), steps_per_call=4)
    engine.gate = threading.Event()
    fake_engines["stable-video-diffusion"] = engine
    submitted = await post(client, VIDEO, account, {"seed": "9"}, jpeg(1024, 576), "video/*")
    assert submitted.status_code == 200, submitted.text
    assert submitted.headers["content-type"] == "application/json"
    (job_id,) = submitted.json().values()
    assert len(job_id) == 64

    await anyio.to_thread.run_sync(engine.started.wait, 10)
    results = f"/v2beta/results/{job_id}"
    running = await client.get(results, headers=account.headers)
    assert running.status_code == 202, running.text
    assert running.json() == {"id": job_id, "status": "in-progress", "progress": 0.0}
    other = make_account(services.accounts, services.billing, email="other@example.com")
    error(await client.get(results, headers=other.headers), 404, "generation_not_found")

    engine.gate.set()
    done = await finished(client, results, account)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "video/mp4"
    assert (done.headers["finish-reason"], done.headers["seed"]) == ("SUCCESS", "9")
    assert decoded_frames(done.content) == [(1024, 576)] * FAKE_FRAMES
    assert credits(services, account) == 50 - 20

    legacy = await client.get(
        f"{VIDEO}/result/{job_id}", headers={**account.headers, "Accept": "application/json"}
    )
    assert legacy.headers["content-type"] == "application/json; type=video/mp4"
    assert "seed" not in legacy.headers
    body = legacy.json()
    assert set(body) == {"video", "finish_reason", "seed"}
    assert (body["finish_reason"], body["seed"]) == ("SUCCESS", 9)
    assert base64.b64decode(body["video"]) == done.content
    assert credits(services, account) == 50 - 20  # fetching is free


async def test_image_to_video_passes_its_fields_and_keeps_the_size(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    fields = {"cfg_scale": "3.5", "motion_bucket_id": "200"}
    submitted = await post(client, VIDEO, account, fields, noise_png(576, 1024))
    assert submitted.status_code == 200, submitted.text
    done = await finished(client, f"/v2beta/results/{submitted.json()['id']}", account)
    assert decoded_frames(done.content) == [(576, 1024)] * FAKE_FRAMES
    (request,) = fake_engines["stable-video-diffusion"].calls[0]
    assert (request.kind, request.cfg_scale, request.extras) == (
        "image-to-video",
        3.5,
        {"motion_bucket_id": 200},
    )
    assert request.init_image is not None and request.init_image.size == (576, 1024)
    # the sandbox engine's steps; Stability's own defaults for the rest
    defaults = await post(client, VIDEO, account, {}, noise_png(768, 768))
    await finished(client, f"/v2beta/results/{defaults.json()['id']}", account)
    (request,) = fake_engines["stable-video-diffusion"].calls[1]
    assert (request.cfg_scale, request.extras["motion_bucket_id"], request.steps) == (1.8, 127, 2)


async def test_image_to_video_refuses_bad_input_without_charging(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    size = await post(client, VIDEO, account, {}, noise_png(1024, 1024))
    assert "must be 1024x576, 576x1024, 768x768" in error(size, 400, "invalid_image_dimensions")[0]
    webp = io.BytesIO()
    noise(768, 768, 1).save(webp, format="WEBP")
    error(await post(client, VIDEO, account, {}, webp.getvalue()), 400, "invalid_mime_type")
    assert error(await post(client, VIDEO, account, {}), 400, "bad_request") == [
        "image: is required"
    ]
    fields = {"motion_bucket_id": "0", "cfg_scale": "11", "seed": "4294967295"}
    problems = error(await post(client, VIDEO, account, fields, jpeg(768, 768)), 400, "bad_request")
    assert [p.split(":")[0] for p in problems] == ["seed", "cfg_scale", "motion_bucket_id"]
    # parameters are checked before the key
    error(await post(client, VIDEO, None, fields, jpeg(768, 768)), 400, "bad_request")
    error(await post(client, VIDEO, None, {}, jpeg(768, 768)), 401, "unauthorized")
    assert credits(services, account) == 50


async def test_a_failed_video_is_not_charged(
    client: httpx.AsyncClient, services: Services, fake_engines: dict[str, FakeEngine]
) -> None:
    account = make_account(services.accounts, services.billing, credits=50)
    engine = FakeEngine(services.engines.spec("stable-video-diffusion"))
    engine.fail_with = RuntimeError("boom")
    fake_engines["stable-video-diffusion"] = engine
    submitted = await post(client, VIDEO, account, {}, jpeg(768, 768))
    failed = await finished(client, f"/v2beta/results/{submitted.json()['id']}", account)
    error(failed, 500, "server_error")
    assert credits(services, account) == 50


async def test_video_results_refuse_an_accept_they_cannot_serve(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    submitted = await post(client, VIDEO, account, {}, jpeg(768, 768))
    url = f"/v2beta/results/{submitted.json()['id']}"
    await finished(client, url, account)
    refused = await client.get(url, headers={**account.headers, "Accept": "text/html"})
    assert "accept: must be one of" in error(refused, 400, "bad_request")[0]
    star = await client.get(url, headers={**account.headers, "Accept": "*/*"})
    assert star.headers["content-type"] == "video/mp4"


# -- 3D ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "application/json", "image/*"])
async def test_stable_fast_3d_answers_a_glb_whatever_accept_says(
    client: httpx.AsyncClient, account: TestAccount, services: Services, accept: str | None
) -> None:
    response = await post(client, FAST_3D, account, {}, noise_png(256, 256), accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "model/gltf-binary"
    document = glb_json(response.content)
    assert document["asset"]["version"] == "2.0"  # type: ignore[index]
    mesh = trimesh.load(io.BytesIO(response.content), file_type="glb", force="mesh")
    assert len(mesh.vertices) > 0 and len(mesh.faces) > 0
    assert credits(services, account) == 50 - 10


async def test_stable_fast_3d_passes_its_fields(
    client: httpx.AsyncClient, account: TestAccount, fake_engines: dict[str, FakeEngine]
) -> None:
    fields = {
        "texture_resolution": "2048",
        "foreground_ratio": "0.5",
        "remesh": "quad",
        "vertex_count": "500",
    }
    rgba = Image.new("RGBA", (128, 64), (0, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    response = await post(client, FAST_3D, account, fields, buffer.getvalue())
    assert response.status_code == 200, response.text
    (request,) = fake_engines["stable-fast-3d"].calls[0]
    assert request.kind == "image-to-3d"
    assert request.extras == {
        "texture_resolution": 2048,
        "foreground_ratio": 0.5,
        "remesh": "quad",
        "vertex_limit": 500,
    }
    assert request.init_image is not None and request.init_image.mode == "RGBA"


async def test_stable_point_aware_3d_prices_and_targets(
    client: httpx.AsyncClient,
    account: TestAccount,
    services: Services,
    fake_engines: dict[str, FakeEngine],
) -> None:
    fields = {"target_type": "face", "target_count": "2000", "guidance_scale": "5", "seed": "3"}
    response = await post(client, POINT_3D, account, fields, jpeg(300, 200))
    assert response.status_code == 200, response.text
    assert glb_json(response.content)["meshes"]
    (request,) = fake_engines["stable-point-aware-3d"].calls[0]
    assert request.seeds == [3]
    assert request.extras == {
        "texture_resolution": 1024,
        "foreground_ratio": 1.3,
        "remesh": "none",
        "guidance_scale": 5.0,
        "face_limit": 2000,
    }
    assert credits(services, account) == 50 - 4


async def test_3d_refuses_bad_input_without_charging(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    fields = {"texture_resolution": "4096", "foreground_ratio": "0.5", "target_count": "50"}
    problems = error(
        await post(client, POINT_3D, account, fields, jpeg(64, 64)), 400, "bad_request"
    )
    assert [p.split(":")[0] for p in problems] == [
        "texture_resolution",
        "foreground_ratio",
        "target_count",
    ]
    fast = {"foreground_ratio": "1.5", "vertex_count": "20001", "remesh": "hex"}
    problems = error(await post(client, FAST_3D, account, fast, jpeg(64, 64)), 400, "bad_request")
    assert [p.split(":")[0] for p in problems] == ["foreground_ratio", "remesh", "vertex_count"]
    small = await post(client, FAST_3D, account, {}, noise_png(32, 200))
    assert "at least 64 pixels" in error(small, 400, "invalid_image_dimensions")[0]
    assert error(await post(client, FAST_3D, account, {}), 400, "bad_request") == [
        "image: is required"
    ]
    error(await post(client, FAST_3D, None, fast, jpeg(64, 64)), 400, "bad_request")
    assert credits(services, account) == 50
