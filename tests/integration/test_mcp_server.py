"""`easel mcp` driven by an MCP client session from the SDK, over stdio and
over streamable HTTP, against a real `easel serve` on the sandbox engines.

Every tool whose API route easel serves runs for real, but the creative
upscale: its sandbox engine takes minutes on a loaded CPU, so the
asynchronous path (upscale creative, get_result of a finished job) runs
against easel through the SDK in test_client_against_server.py and through
the tools against a stub in tests/unit/mcp, as does inpaint until the edit
routes land. get_result still makes a real round trip here (an unknown id).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client as MCPClient
from mcp import StdioServerParameters

import easel
from tests.images import noise_png
from tests.integration.conftest import RunningServer, free_port
from tests.processes import die_with_parent

SRC = str(Path(easel.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def server(running_server: RunningServer) -> RunningServer:
    """The session's `easel serve`: a server start and its worker's model loads are
    the costliest part of a test here, and these tests need no server of their own."""
    return running_server


def mcp_env(server: RunningServer) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": SRC,
        "API_HOST": server.url,
        "STABILITY_API_KEY": server.api_key,
    }


@asynccontextmanager
async def over_stdio(server: RunningServer, out: Path) -> AsyncIterator[MCPClient]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "easel.cli.main", "mcp", "--output-dir", str(out)],
        env=mcp_env(server),
    )
    async with MCPClient(params) as session:
        yield session


@asynccontextmanager
async def over_http(server: RunningServer, out: Path) -> AsyncIterator[MCPClient]:
    port = free_port()
    command = [sys.executable, "-m", "easel.cli.main", "mcp", "--transport", "http"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--output-dir", str(out)],
        env=mcp_env(server),
        stdout=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "easel mcp did not start"
                time.sleep(0.1)
        async with MCPClient(f"http://127.0.0.1:{port}/mcp") as session:
            yield session
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stderr is not None:
            process.stderr.close()


def saved(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    info = json.loads(result.content[0].text)
    assert Path(info["path"]).stat().st_size > 0
    return info


@pytest.mark.parametrize("transport", [over_stdio, over_http], ids=["stdio", "http"])
async def test_every_served_tool_over_the_transport(
    server: RunningServer, tmp_path: Path, transport: Any
) -> None:
    image = base64.b64encode(noise_png(64, 64)).decode()

    async with transport(server, tmp_path / "out") as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        generated = saved(
            await session.call_tool(
                "generate_image_from_text", {"prompt": "a lighthouse", "seed": 3}
            )
        )
        transformed = saved(
            await session.call_tool(
                "transform_image", {"image": image, "prompt": "a fox", "strength": 0.5}
            )
        )
        upscaled = saved(await session.call_tool("upscale_image", {"image": image}))
        missing = await session.call_tool("get_result", {"generation_id": "0" * 64})
        models = json.loads((await session.call_tool("list_available_models")).content[0].text)
        account = json.loads((await session.call_tool("get_account")).content[0].text)
        balance = json.loads((await session.call_tool("get_balance")).content[0].text)

    assert "inpaint_image" in tools
    assert generated["seed"] == 3 and generated["path"].startswith(str(tmp_path / "out"))
    assert missing.is_error and "generation_not_found" in missing.content[0].text
    for info in (generated, transformed, upscaled):
        assert info["media_type"] == "image/png" and info["finish_reason"] == "SUCCESS"
    assert {"label", "value"} <= set(models[0]) and account["id"]
    assert isinstance(balance["credits"], float)
