"""The v2beta methods against a stubbed Stability: each operation's path,
multipart fields and Accept header; results in their real format; the
asynchronous handle's polling, backoff, progress, timeout, cancel and save."""

from __future__ import annotations

import base64
import inspect
from typing import Any

import httpx
import pytest

from easel.client import (
    AsyncClient,
    BadRequestError,
    Client,
    GenerationTimeoutError,
    MediaResult,
    NotFoundError,
)
from easel.client._operations import Operations
from easel.client._params import describe

PNG = b"\x89PNG\r\n\x1a\n" + bytes(48)
JPEG = b"\xff\xd8\xff\xe0" + bytes(32)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(16)
GLB = b"glTF\x02\x00\x00\x00" + bytes(16)
GEN_ID = "a" * 64

# method -> (positional args, path, file parts sent, fields sent)
SYNC_OPS: dict[str, tuple[tuple[Any, ...], str, set[str], dict[str, str]]] = {
    "generate_ultra": (
        ("a fox",),
        "/v2beta/stable-image/generate/ultra",
        set(),
        {"prompt": "a fox"},
    ),  # noqa: E501
    "generate_core": (("a fox",), "/v2beta/stable-image/generate/core", set(), {"prompt": "a fox"}),
    "generate_sd3": (("a fox",), "/v2beta/stable-image/generate/sd3", set(), {"prompt": "a fox"}),
    "upscale_fast": ((PNG,), "/v2beta/stable-image/upscale/fast", {"image"}, {}),
    "upscale_conservative": (
        (PNG, "a fox"),
        "/v2beta/stable-image/upscale/conservative",
        {"image"},
        {"prompt": "a fox"},
    ),  # noqa: E501
    "edit_erase": ((PNG,), "/v2beta/stable-image/edit/erase", {"image"}, {}),
    "edit_inpaint": (
        (PNG, "a fox"),
        "/v2beta/stable-image/edit/inpaint",
        {"image"},
        {"prompt": "a fox"},
    ),  # noqa: E501
    "edit_outpaint": ((PNG,), "/v2beta/stable-image/edit/outpaint", {"image"}, {}),
    "edit_search_and_replace": (
        (PNG, "a fox", "a dog"),
        "/v2beta/stable-image/edit/search-and-replace",
        {"image"},
        {"prompt": "a fox", "search_prompt": "a dog"},
    ),  # noqa: E501
    "edit_search_and_recolor": (
        (PNG, "red", "the car"),
        "/v2beta/stable-image/edit/search-and-recolor",
        {"image"},
        {"prompt": "red", "select_prompt": "the car"},
    ),  # noqa: E501
    "edit_remove_background": (
        (PNG,),
        "/v2beta/stable-image/edit/remove-background",
        {"image"},
        {},
    ),  # noqa: E501
    "control_sketch": (
        (PNG, "a fox"),
        "/v2beta/stable-image/control/sketch",
        {"image"},
        {"prompt": "a fox"},
    ),  # noqa: E501
    "control_structure": (
        (PNG, "a fox"),
        "/v2beta/stable-image/control/structure",
        {"image"},
        {"prompt": "a fox"},
    ),  # noqa: E501
    "control_style": (
        (PNG, "a fox"),
        "/v2beta/stable-image/control/style",
        {"image"},
        {"prompt": "a fox"},
    ),  # noqa: E501
    "control_style_transfer": (
        (PNG, JPEG),
        "/v2beta/stable-image/control/style-transfer",
        {"init_image", "style_image"},
        {},
    ),  # noqa: E501
    "stable_fast_3d": ((PNG,), "/v2beta/3d/stable-fast-3d", {"image"}, {}),
    "stable_point_aware_3d": ((PNG,), "/v2beta/3d/stable-point-aware-3d", {"image"}, {}),
}
JOB_OPS: dict[str, tuple[tuple[Any, ...], str, set[str]]] = {
    "upscale_creative": ((PNG, "a fox"), "/v2beta/stable-image/upscale/creative", {"image"}),
    "edit_replace_background_and_relight": (
        (PNG,),
        "/v2beta/stable-image/edit/replace-background-and-relight",
        {"subject_image"},
    ),  # noqa: E501
    "image_to_video": ((PNG,), "/v2beta/image-to-video", {"image"}),
}


def image_response(request: httpx.Request) -> httpx.Response:
    if "/3d/" in request.url.path:
        return httpx.Response(200, content=GLB, headers={"content-type": "model/gltf-binary"})
    return httpx.Response(
        200,
        content=PNG,
        headers={"content-type": "image/png", "finish-reason": "SUCCESS", "seed": "7"},
    )


def test_every_v2beta_operation_has_a_method_in_both_clients():
    operations = set(SYNC_OPS) | set(JOB_OPS)
    for name in operations:
        method = getattr(Operations, name)
        assert getattr(Client, name) is method and getattr(AsyncClient, name) is method
        assert describe(method), name  # parameters and limits readable by CLI/MCP


@pytest.mark.parametrize("name", sorted(SYNC_OPS))
def test_sync_operation_sends_its_form_and_reads_the_file(make_client, server, name):
    args, path, files, fields = SYNC_OPS[name]
    server.on("POST", path, image_response)

    result = getattr(make_client(host="https://api.stability.ai"), name)(*args)

    request = server.last
    form = server.form(request)
    assert {k for k, v in form.items() if isinstance(v, tuple)} == files
    assert {k: v for k, v in form.items() if isinstance(v, str)} == fields
    assert request.headers["accept"] == ("*/*" if "/3d/" in path else "image/*")
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert isinstance(result, MediaResult)
    assert result.extension == (".glb" if "/3d/" in path else ".png")


@pytest.mark.parametrize("name", sorted(JOB_OPS))
def test_async_operation_submits_and_returns_a_handle(make_client, server, name):
    args, path, files = JOB_OPS[name]
    server.on("POST", path, {"id": GEN_ID})

    job = getattr(make_client(), name)(*args)

    assert job.id == GEN_ID and job.status == "in-progress" and not job.done
    assert server.last.headers["accept"] == "application/json"
    assert {k for k, v in server.form(server.last).items() if isinstance(v, tuple)} == files


def test_options_are_sent_as_text_parts_only_when_set(client, server):
    server.on("POST", "/v2beta/stable-image/generate/sd3", image_response)

    client.generate_sd3(
        "a fox", image=PNG, strength=0.5, model="sd3.5-medium", seed=3, output_format="webp"
    )

    form = server.form(server.last)
    assert form["mode"] == "image-to-image" and form["strength"] == "0.5"
    assert form["model"] == "sd3.5-medium" and form["seed"] == "3"
    assert form["output_format"] == "webp" and "aspect_ratio" not in form
    assert form["image"][1] == "image/png"


def test_booleans_are_sent_as_the_strings_the_api_expects(client, server):
    path = "/v2beta/stable-image/edit/replace-background-and-relight"
    server.on("POST", path, {"id": GEN_ID})

    client.edit_replace_background_and_relight(
        PNG, background_prompt="a beach", keep_original_background=False, light_reference=JPEG
    )

    form = server.form(server.last)
    assert form["keep_original_background"] == "false"
    assert form["light_reference"][1] == "image/jpeg"


def test_json_results_are_read_too(client, server):
    body = {
        "image": base64.b64encode(JPEG).decode(),
        "finish_reason": "CONTENT_FILTERED",
        "seed": 9,
    }
    server.on(
        "POST",
        "/v2beta/stable-image/generate/core",
        (200, body, {"content-type": "application/json; type=image/jpeg"}),
    )

    result = client.generate_core("a fox")

    assert (result.data, result.media_type, result.extension) == (JPEG, "image/jpeg", ".jpg")
    assert (result.finish_reason, result.seed) == ("CONTENT_FILTERED", 9)


def test_v2beta_errors_carry_name_and_id(client, server):
    body = {"id": "b" * 32, "name": "bad_request", "errors": ["prompt: is required"]}
    server.on("POST", "/v2beta/stable-image/generate/core", (400, body))

    with pytest.raises(BadRequestError) as caught:
        client.generate_core("")

    assert caught.value.name == "bad_request" and caught.value.id == "b" * 32
    assert caught.value.errors == ["prompt: is required"]


@pytest.mark.parametrize(
    ("media_type", "data", "extension"),
    [
        ("image/png", PNG, ".png"),
        ("image/jpeg", JPEG, ".jpg"),
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBP", ".webp"),
        ("video/mp4", MP4, ".mp4"),
        ("model/gltf-binary", GLB, ".glb"),
    ],
)
def test_results_save_in_their_real_format(tmp_path, media_type, data, extension):
    result = MediaResult(data=data, media_type=media_type, seed=5, generation_id=None)

    into_dir = result.save(tmp_path)
    no_suffix = result.save(tmp_path / "sub" / "named")

    assert into_dir == tmp_path / f"result-5{extension}" and into_dir.read_bytes() == data
    assert no_suffix == tmp_path / "sub" / f"named{extension}" and no_suffix.read_bytes() == data


def in_progress(progress: float | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"id": GEN_ID, "status": "in-progress"}
    if progress is not None:
        body["progress"] = progress
    return (202, body)


MP4_DONE = (200, MP4, {"content-type": "video/mp4", "finish-reason": "SUCCESS", "seed": "11"})
RESULT = f"/v2beta/results/{GEN_ID}"


def test_wait_polls_with_backoff_and_reports_easel_progress(make_client, server, clock, tmp_path):
    server.on("POST", "/v2beta/image-to-video", {"id": GEN_ID})
    server.on("GET", RESULT, in_progress(0.1), in_progress(0.5), in_progress(0.8), MP4_DONE)
    reports = []
    client = make_client(host="http://127.0.0.1:8000")

    job = client.image_to_video(PNG, seed=1)
    result = job.wait(poll_interval=1.0, on_progress=reports.append)

    assert clock.sleeps == [1.0, 1.5, 2.25]
    assert [r.progress for r in reports] == [0.1, 0.5, 0.8, 1.0]
    assert reports[-1].status == "succeeded" and job.status == "succeeded"
    assert server.last.headers["accept"] == "*/*"
    assert (result.media_type, result.seed, result.generation_id) == ("video/mp4", 11, GEN_ID)
    assert job.save(tmp_path) == tmp_path / f"{GEN_ID}.mp4"
    assert server.paths().count(f"GET {RESULT}") == 4  # save reuses the result


def test_progress_is_none_on_stability_and_polls_every_10s(make_client, server, clock):
    server.on("GET", RESULT, in_progress(), in_progress(), MP4_DONE)
    client = make_client(host="https://api.stability.ai")

    job = client.generation(GEN_ID)
    assert job.poll() is None and job.progress is None
    job.wait()

    assert clock.sleeps == [10.0]  # one 202 left after the first poll


def test_wait_gives_up_after_timeout(make_client, server, clock):
    server.on("GET", RESULT, in_progress(0.2))
    job = make_client().generation(GEN_ID)

    with pytest.raises(GenerationTimeoutError):
        job.wait(timeout=5.0, poll_interval=2.0)

    assert sum(clock.sleeps) == pytest.approx(5.0)  # the last sleep is cut to the deadline


def test_cancel_deletes_the_generation(make_client, server):
    server.on("DELETE", f"/v1/generation/{GEN_ID}", {"id": GEN_ID, "status": "cancelled"})

    make_client().generation(GEN_ID).cancel()

    assert server.paths() == [f"DELETE /v1/generation/{GEN_ID}"]


def test_an_unknown_generation_is_not_found(make_client, server):
    body = {"id": "c" * 32, "name": "generation_not_found", "errors": ["id: expired"]}
    server.on("GET", RESULT, (404, body))

    with pytest.raises(NotFoundError) as caught:
        make_client().generation(GEN_ID).wait()

    assert caught.value.name == "generation_not_found"


async def test_async_client_runs_the_same_operations(make_async_client, server, clock, tmp_path):
    server.on("POST", "/v2beta/stable-image/upscale/creative", {"id": GEN_ID})
    server.on("GET", RESULT, in_progress(0.5), (200, PNG, {"content-type": "image/png"}))
    server.on("POST", "/v2beta/3d/stable-fast-3d", image_response)
    server.on("DELETE", f"/v1/generation/{GEN_ID}", {"id": GEN_ID})
    client = make_async_client(host="http://127.0.0.1:8000")

    model = await client.stable_fast_3d(PNG, remesh="quad")
    job = await client.upscale_creative(PNG, "a fox", creativity=0.3)
    path = await job.save(tmp_path / "up")
    await job.cancel()

    assert model.extension == ".glb" and server.form(server.requests[0])["remesh"] == "quad"
    assert path == tmp_path / "up.png" and path.read_bytes() == PNG
    assert clock.sleeps == [1.0] and job.progress == 1.0


def test_operation_methods_are_written_once():
    # Client and AsyncClient define no operation of their own: the shared
    # declaration in Operations is the only one.
    for cls in (Client, AsyncClient):
        own = {name for name, value in vars(cls).items() if inspect.isfunction(value)}
        assert not own & (set(SYNC_OPS) | set(JOB_OPS) | {"text_to_image", "image_to_image"})


def test_path_inputs_are_read(client, server, tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(PNG)
    server.on("POST", "/v2beta/stable-image/upscale/fast", image_response)

    client.upscale_fast(image)

    assert server.form(server.last)["image"] == ("in.png", "image/png", PNG)


def test_generation_needs_an_id(client):
    with pytest.raises(ValueError):
        client.generation("")
