"""Every MCP tool through an MCP client session from the SDK (in process),
against a stubbed Stability: what it sends, the file it saves, the text and
image blocks it answers, and errors that keep Stability's name and id."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client as MCPClient
from PIL import Image

from easel.client import AsyncClient
from easel.mcp.server import build_server

GEN_ID = "f" * 64


def png(size: tuple[int, int] = (64, 64), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


class Stub:
    """A scripted Stability: ``routes`` maps "METHOD /path" to a list of responses."""

    def __init__(self) -> None:
        self.routes: dict[str, list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, route: str, *responses: httpx.Response) -> None:
        self.routes[route] = list(responses)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        queue = self.routes.get(f"{request.method} {request.url.path}")
        if not queue:
            return httpx.Response(404, json={"id": "0" * 32, "name": "not_found", "errors": ["x"]})
        return queue.pop(0) if len(queue) > 1 else queue[0]


def image_response(data: bytes | None = None, seed: str = "5") -> httpx.Response:
    headers = {"content-type": "image/png", "finish-reason": "SUCCESS", "seed": seed}
    return httpx.Response(200, content=data or png(), headers=headers)


@pytest.fixture
def stub() -> Stub:
    return Stub()


@pytest.fixture
def connect(stub: Stub, tmp_path: Path) -> Callable[[], MCPClient]:
    async def no_sleep(_: float) -> None:
        return None

    def factory() -> AsyncClient:
        return AsyncClient(
            api_key="sk-test",
            host="http://127.0.0.1:9",
            transport=httpx.MockTransport(stub.handler),
            rate_limit=None,
            sleep=no_sleep,
        )

    server = build_server(tmp_path / "out", client_factory=factory)
    return lambda: MCPClient(server)


def form_fields(request: httpx.Request) -> dict[str, Any]:
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    fields: dict[str, Any] = {}
    for part in request.content.split(b"--" + boundary)[1:-1]:
        head, _, body = part[2:].partition(b"\r\n\r\n")
        name = head.decode().split('name="', 1)[1].split('"', 1)[0]
        fields[name] = body[:-2] if b"filename=" in head else body[:-2].decode()
    return fields


async def call(connect: Callable[[], MCPClient], tool: str, **arguments: Any) -> Any:
    async with connect() as session:
        return await session.call_tool(tool, arguments)


def saved(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    info = json.loads(result.content[0].text)
    assert Path(info["path"]).is_file()
    return info


async def test_tools_carry_the_api_names_limits_and_descriptions(connect):
    async with connect() as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert set(tools) == {
        "generate_image_from_text",
        "transform_image",
        "upscale_image",
        "inpaint_image",
        "list_available_models",
        "get_account",
        "get_balance",
        "get_result",
    }
    generate = tools["generate_image_from_text"].input_schema["properties"]
    assert generate["prompt"]["maxLength"] == 10000 and generate["prompt"]["description"]
    assert "16:9" in json.dumps(generate["aspect_ratio"])
    assert "4294967294" in json.dumps(generate["seed"])
    strength = tools["transform_image"].input_schema["properties"]["strength"]
    assert (strength["minimum"], strength["maximum"]) == (0, 1)
    grow = tools["inpaint_image"].input_schema["properties"]["grow_mask"]
    assert "100" in json.dumps(grow)  # inpaint's own range, not erase's
    assert all(tool.description for tool in tools.values())


@pytest.mark.parametrize("service", ["core", "ultra", "sd3"])
async def test_generate_saves_the_image_and_returns_path_and_image(connect, stub, service):
    stub.on(f"POST /v2beta/stable-image/generate/{service}", image_response(seed="77"))

    result = await call(connect, "generate_image_from_text", prompt="a fox", service=service)

    info = saved(result)
    assert info["seed"] == 77 and info["path"].endswith(".png")
    assert result.content[1].type == "image" and result.content[1].mime_type == "image/png"
    assert form_fields(stub.requests[0])["prompt"] == "a fox"


async def test_transform_accepts_a_path_and_sends_image_to_image(connect, stub, tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(png())
    stub.on("POST /v2beta/stable-image/generate/sd3", image_response())

    saved(await call(connect, "transform_image", image=str(source), prompt="x", strength=0.4))

    fields = form_fields(stub.requests[0])
    assert fields["mode"] == "image-to-image" and fields["strength"] == "0.4"
    assert fields["image"] == source.read_bytes()


async def test_inpaint_accepts_url_safe_base64_without_padding(connect, stub):
    image, mask = png(color="blue"), png(color="white")
    encoded = base64.urlsafe_b64encode(image).decode().rstrip("=")
    stub.on("POST /v2beta/stable-image/edit/inpaint", image_response())

    saved(
        await call(
            connect,
            "inpaint_image",
            image=encoded,
            mask=base64.b64encode(mask).decode(),
            prompt="a cat",
            grow_mask=50,
        )
    )

    fields = form_fields(stub.requests[0])
    assert (fields["image"], fields["mask"], fields["grow_mask"]) == (image, mask, "50")


async def test_upscale_fast_and_conservative(connect, stub):
    stub.on("POST /v2beta/stable-image/upscale/fast", image_response())
    stub.on("POST /v2beta/stable-image/upscale/conservative", image_response())

    saved(await call(connect, "upscale_image", image=base64.b64encode(png()).decode()))
    saved(
        await call(
            connect,
            "upscale_image",
            image=base64.b64encode(png()).decode(),
            service="conservative",
            prompt="a fox",
            creativity=0.3,
        )
    )

    assert form_fields(stub.requests[1])["creativity"] == "0.3"


async def test_upscale_creative_waits_for_the_job(connect, stub):
    stub.on("POST /v2beta/stable-image/upscale/creative", httpx.Response(200, json={"id": GEN_ID}))
    stub.on(
        f"GET /v2beta/results/{GEN_ID}",
        httpx.Response(202, json={"id": GEN_ID, "status": "in-progress", "progress": 0.5}),
        image_response(),
    )

    result = await call(
        connect, "upscale_image", image=base64.b64encode(png()).decode(), service="creative",
        prompt="a fox",
    )  # fmt: skip

    saved(result)
    assert [r.url.path for r in stub.requests].count(f"/v2beta/results/{GEN_ID}") == 2


async def test_large_results_are_scaled_down_for_the_model(connect, stub):
    big = png((2048, 1024))
    stub.on("POST /v2beta/stable-image/generate/core", image_response(big))

    result = await call(connect, "generate_image_from_text", prompt="a fox")

    info = saved(result)
    assert Path(info["path"]).read_bytes() == big  # the file keeps every pixel
    shown = Image.open(io.BytesIO(base64.b64decode(result.content[1].data)))
    assert shown.size == (1024, 512)


async def test_get_result_reports_progress_then_saves_the_video(connect, stub):
    mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(8)
    stub.on(
        f"GET /v2beta/results/{GEN_ID}",
        httpx.Response(202, json={"id": GEN_ID, "status": "in-progress", "progress": 0.25}),
        httpx.Response(200, content=mp4, headers={"content-type": "video/mp4", "seed": "3"}),
    )

    running = await call(connect, "get_result", generation_id=GEN_ID)
    done = await call(connect, "get_result", generation_id=GEN_ID)

    assert json.loads(running.content[0].text) == {
        "id": GEN_ID,
        "status": "in-progress",
        "progress": 0.25,
    }
    info = saved(done)
    assert info["path"].endswith(".mp4") and len(done.content) == 1  # no image block


async def test_engines_account_and_balance(connect, stub):
    engine = {"id": "sd3-medium", "name": "SD3 Medium", "description": "d", "type": "PICTURE"}
    account = {"id": "u1", "email": "a@b.c", "organizations": []}
    stub.on("GET /v1/engines/list", httpx.Response(200, json=[engine]))
    stub.on("GET /v1/user/account", httpx.Response(200, json=account))
    stub.on("GET /v1/user/balance", httpx.Response(200, json={"credits": 12.5}))

    models = json.loads((await call(connect, "list_available_models")).content[0].text)
    user = json.loads((await call(connect, "get_account")).content[0].text)
    credits = json.loads((await call(connect, "get_balance")).content[0].text)

    assert models[0]["label"] == "SD3 Medium" and models[0]["value"] == "sd3-medium"
    assert user["email"] == "a@b.c" and credits == {"credits": 12.5}


async def test_api_errors_come_back_with_name_and_id(connect, stub):
    body = {"id": "9" * 32, "name": "content_moderation", "errors": ["flagged"]}
    stub.on("POST /v2beta/stable-image/generate/core", httpx.Response(403, json=body))

    result = await call(connect, "generate_image_from_text", prompt="x")

    assert result.is_error
    assert "content_moderation" in result.content[0].text and "9" * 32 in result.content[0].text


async def test_a_bad_image_argument_is_a_tool_error(connect, stub):
    result = await call(connect, "upscale_image", image="/no/such/file.png")

    assert result.is_error and "not a readable file path or a base64 image" in str(result.content)
    assert stub.requests == []
