"""The v2beta commands (generate/upscale services, edit, control, video, 3d)
through typer's CliRunner against a stubbed API: the request each sends, the
file each saves, one path per line or JSON, exit codes and error lines."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from easel.cli.client_commands import build_client, register
from easel.cli.operations import COMMANDS, TOP_LEVEL

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
GLB = b"glTF\x02\x00\x00\x00" + bytes(8)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(8)
GEN_ID = "d" * 64


class Api:
    def __init__(self) -> None:
        self.routes: dict[str, list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        queue = self.routes.get(f"{request.method} {request.url.path}")
        if not queue:
            body = {"id": "0" * 32, "name": "not_found", "errors": ["no route"]}
            return httpx.Response(404, json=body)
        return queue.pop(0) if len(queue) > 1 else queue[0]


def image(media_type: str = "image/png", data: bytes = PNG) -> httpx.Response:
    return httpx.Response(200, content=data, headers={"content-type": media_type, "seed": "4"})


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def app(api: Api) -> typer.Typer:
    app = typer.Typer()
    factory = functools.partial(
        build_client, transport=httpx.MockTransport(api.handler), sleep=lambda s: None,
        rate_limit=None,
    )  # fmt: skip
    register(app, client_factory=factory)
    return app


@pytest.fixture
def picture(tmp_path: Path) -> str:
    path = tmp_path / "in.png"
    path.write_bytes(PNG)
    return str(path)


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, list(args), env={"STABILITY_API_KEY": "sk-cli"})


ARGS = {
    "ultra": ["a fox"], "core": ["a fox"], "sd3": ["a fox"],
    "conservative": ["{img}", "a fox"], "inpaint": ["{img}", "a fox"],
    "search-and-replace": ["{img}", "a fox", "a dog"],
    "search-and-recolor": ["{img}", "red", "the car"],
    "sketch": ["{img}", "a fox"], "structure": ["{img}", "a fox"], "style": ["{img}", "a fox"],
    "style-transfer": ["{img}", "{img}"],
}  # fmt: skip
PATHS = {
    ("generate", "ultra"): "/v2beta/stable-image/generate/ultra",
    ("3d", "fast"): "/v2beta/3d/stable-fast-3d",
    ("3d", "point-aware"): "/v2beta/3d/stable-point-aware-3d",
}
SYNC = [(g, n) for g, n, m in COMMANDS if "JobT" not in str(m.__annotations__["return"])]


def path_of(group: str, name: str) -> str:
    if (group, name) in PATHS:
        return PATHS[(group, name)]
    return f"/v2beta/stable-image/{group}/{name}"


@pytest.mark.parametrize(("group", "name"), SYNC)
def test_each_sync_command_saves_its_file_and_prints_the_path(
    app, api, picture, tmp_path, group, name
):
    is_3d = group == "3d"
    api.routes[f"POST {path_of(group, name)}"] = [
        image("model/gltf-binary", GLB) if is_3d else image()
    ]
    args = [a.format(img=picture) for a in ARGS.get(name, ["{img}"])]

    result = run(app, group, name, *args, "-o", str(tmp_path / "out"))

    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert Path(line).parent == tmp_path / "out"
    assert Path(line).suffix == (".glb" if is_3d else ".png")
    assert Path(line).read_bytes() == (GLB if is_3d else PNG)


def test_options_carry_the_api_names(app, api, picture, tmp_path):
    api.routes["POST /v2beta/stable-image/generate/sd3"] = [image()]

    result = run(
        app, "generate", "sd3", "a fox", "--image", picture, "--strength", "0.4",
        "--model", "sd3.5-medium", "--aspect-ratio", "16:9", "--json", "-o", str(tmp_path),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    body = api.requests[0].content
    for part in (b'name="strength"\r\n\r\n0.4', b"sd3.5-medium", b"16:9", b"image-to-image"):
        assert part in body
    (saved,) = json.loads(result.stdout)
    assert saved["media_type"] == "image/png" and saved["seed"] == 4


def test_a_value_outside_the_choices_is_a_usage_error(app, api):
    result = run(app, "generate", "core", "a fox", "--aspect-ratio", "7:3")

    assert result.exit_code == 2 and api.requests == []


def test_creative_upscale_waits_for_the_result(app, api, picture, tmp_path):
    api.routes["POST /v2beta/stable-image/upscale/creative"] = [
        httpx.Response(200, json={"id": GEN_ID})
    ]
    api.routes[f"GET /v2beta/results/{GEN_ID}"] = [
        httpx.Response(202, json={"id": GEN_ID, "status": "in-progress", "progress": 0.5}),
        image(),
    ]

    result = run(app, "upscale", "creative", picture, "a fox", "-o", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).read_bytes() == PNG


def test_video_without_wait_prints_the_generation_id(app, api, picture):
    api.routes["POST /v2beta/image-to-video"] = [httpx.Response(200, json={"id": GEN_ID})]

    result = run(app, "video", picture, "--no-wait", "--motion-bucket-id", "200")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == GEN_ID
    assert b'name="motion_bucket_id"\r\n\r\n200' in api.requests[0].content


def test_video_saves_an_mp4(app, api, picture, tmp_path):
    api.routes["POST /v2beta/image-to-video"] = [httpx.Response(200, json={"id": GEN_ID})]
    api.routes[f"GET /v2beta/results/{GEN_ID}"] = [image("video/mp4", MP4)]

    result = run(app, "video", picture, "-o", str(tmp_path))

    assert Path(result.stdout.strip()).suffix == ".mp4"


def test_a_result_not_ready_in_time_exits_12(app, api, picture):
    api.routes["POST /v2beta/image-to-video"] = [httpx.Response(200, json={"id": GEN_ID})]
    api.routes[f"GET /v2beta/results/{GEN_ID}"] = [
        httpx.Response(202, json={"id": GEN_ID, "status": "in-progress"})
    ]

    result = run(app, "video", picture, "--timeout", "0")

    assert result.exit_code == 12 and GEN_ID in result.stderr


def test_errors_print_stabilitys_name_and_id(app, api):
    body = {"id": "e" * 32, "name": "content_moderation", "errors": ["flagged"]}
    api.routes["POST /v2beta/stable-image/generate/core"] = [httpx.Response(403, json=body)]

    result = run(app, "generate", "core", "a fox")

    assert result.exit_code == 6
    assert "content_moderation" in result.stderr and "e" * 32 in result.stderr


def test_the_v1_generate_stays_the_default(app, api, tmp_path):
    artifact = {"base64": "iVBORw0KGgo=", "seed": 1, "finishReason": "SUCCESS"}
    path = "/v1/generation/stable-diffusion-v1-6/text-to-image"
    api.routes[f"POST {path}"] = [httpx.Response(200, json={"artifacts": [artifact]})]

    result = run(app, "generate", "a lighthouse", "-o", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert api.requests[0].url.path == path


def test_engines_options_prints_label_value_pairs(app, api):
    engine = {"id": "sd3-medium", "name": "SD3 Medium", "description": "", "type": "PICTURE"}
    api.routes["GET /v1/engines/list"] = [httpx.Response(200, json=[engine])]

    result = run(app, "engines", "--options")

    assert json.loads(result.stdout) == [{"label": "SD3 Medium", "value": "sd3-medium"}]


def test_every_operation_has_a_command():
    names = {m.__name__ for _, _, m in COMMANDS} | {m.__name__ for _, m in TOP_LEVEL}
    assert len(names) == 20  # 17 stable-image, video, two 3D
