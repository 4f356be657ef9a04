"""The MCP tools: generate, transform, upscale and inpaint images, list the
engines, read the account and balance, and fetch asynchronous results.

Each tool calls `easel.client.AsyncClient` (host from ``API_HOST``, key from
``STABILITY_API_KEY``, as the SDK resolves them), saves what comes back in
the output directory and answers with a JSON text block (the path, seed,
finish reason) plus an image block a model can look at. Argument names,
limits and descriptions come from the SDK's operation signatures, so the
tools say what the API says.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ContentBlock, ImageContent, TextContent
from pydantic import Field
from pydantic.fields import FieldInfo

from easel import __version__
from easel.client import AsyncClient, GenerationTimeoutError, MediaResult, StabilityError
from easel.client._operations import (
    AspectRatio,
    Operations,
    OutputFormat,
    SD3Model,
    StylePreset,
)
from easel.client._params import describe
from easel.mcp.media import ImageArgumentError, preview, read_image_argument, save_result

ClientFactory = Callable[[], AsyncClient]
#: How long an upscale or get_result call waits for an asynchronous job by default.
DEFAULT_WAIT_SECONDS = 300.0

INSTRUCTIONS = (
    "Generate and edit images with the Stability AI API (or a self-hosted easel server). "
    "Image arguments take a local file path or a base64 string. Every result is saved to "
    "a file whose path is returned, with a preview image."
)


def arg(method: Callable[..., Any], name: str, description: str | None = None) -> FieldInfo:
    """A pydantic `Field` with the SDK's description and limits for ``method``'s `name`."""
    info = next(p for p in describe(method) if p.name == name)
    param = info.param
    text = description or (param.description if param else name)
    kwargs: dict[str, Any] = {}
    if param is not None:
        if param.ge is not None:
            kwargs["ge"] = param.ge
        if param.le is not None:
            kwargs["le"] = param.le
        if param.max_length is not None:
            kwargs["max_length"] = param.max_length
    field: FieldInfo = Field(description=text, **kwargs)
    return field


IMAGE_HELP = "Local file path, or the image as a base64 string (URL-safe or standard)."
ops = Operations


def build_server(output_dir: Path, client_factory: ClientFactory = AsyncClient) -> MCPServer:
    """The MCP server; results are written under `output_dir`."""
    server: MCPServer = MCPServer(
        "easel", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )
    tool = server.tool

    async def run(
        prefix: str, call: Callable[[AsyncClient], Awaitable[MediaResult]]
    ) -> list[ContentBlock]:
        async with _client(client_factory) as client:
            try:
                result = await call(client)
            except GenerationTimeoutError as exc:
                raise ToolError(f"{exc}; fetch it later with get_result") from exc
        return _answer(save_result(result, output_dir, prefix), result)

    @tool(structured_output=False)
    async def generate_image_from_text(
        prompt: Annotated[str, arg(ops.generate_core, "prompt")],
        service: Annotated[
            Literal["core", "ultra", "sd3"],
            Field(
                description="core: fast and cheap (3 credits); ultra: best quality (8); "
                "sd3: Stable Diffusion 3.5, pick the model (2.5-6.5)."
            ),
        ] = "core",
        model: Annotated[SD3Model | None, arg(ops.generate_sd3, "model")] = None,
        negative_prompt: Annotated[str | None, arg(ops.generate_core, "negative_prompt")] = None,
        aspect_ratio: Annotated[AspectRatio | None, arg(ops.generate_core, "aspect_ratio")] = None,
        style_preset: Annotated[StylePreset | None, arg(ops.generate_core, "style_preset")] = None,
        seed: Annotated[int | None, arg(ops.generate_core, "seed")] = None,
        output_format: Annotated[
            OutputFormat | None, arg(ops.generate_core, "output_format")
        ] = None,
    ) -> list[ContentBlock]:
        """Generate an image from a text prompt; returns the saved file's path and the image."""
        options: dict[str, Any] = {
            "negative_prompt": negative_prompt,
            "aspect_ratio": aspect_ratio,
            "style_preset": style_preset,
            "seed": seed,
            "output_format": output_format,
        }
        if service == "sd3":
            return await run(service, lambda c: c.generate_sd3(prompt, model=model, **options))
        if model is not None:
            raise ToolError("model: only for service sd3")
        method = {"core": AsyncClient.generate_core, "ultra": AsyncClient.generate_ultra}[service]
        return await run(service, lambda c: method(c, prompt, **options))

    @tool(structured_output=False)
    async def transform_image(
        image: Annotated[str, Field(description="Starting image. " + IMAGE_HELP)],
        prompt: Annotated[str, arg(ops.generate_sd3, "prompt")],
        strength: Annotated[float, arg(ops.generate_sd3, "strength")] = 0.6,
        service: Annotated[
            Literal["sd3", "ultra"],
            Field(description="sd3: Stable Diffusion 3.5 image-to-image; ultra: best quality."),
        ] = "sd3",
        model: Annotated[SD3Model | None, arg(ops.generate_sd3, "model")] = None,
        negative_prompt: Annotated[str | None, arg(ops.generate_sd3, "negative_prompt")] = None,
        seed: Annotated[int | None, arg(ops.generate_sd3, "seed")] = None,
        output_format: Annotated[
            OutputFormat | None, arg(ops.generate_sd3, "output_format")
        ] = None,
    ) -> list[ContentBlock]:
        """Change an existing image following a prompt, keeping its structure."""
        data = _image(image, "image")
        options: dict[str, Any] = {
            "image": data,
            "strength": strength,
            "negative_prompt": negative_prompt,
            "seed": seed,
            "output_format": output_format,
        }
        if service == "ultra":
            return await run("transform", lambda c: c.generate_ultra(prompt, **options))
        return await run("transform", lambda c: c.generate_sd3(prompt, model=model, **options))

    @tool(structured_output=False)
    async def upscale_image(
        image: Annotated[str, Field(description="Image to upscale. " + IMAGE_HELP)],
        service: Annotated[
            Literal["fast", "conservative", "creative"],
            Field(
                description="fast: 4x, no prompt (2 credits; input at most 1536 px a side); "
                "conservative: to ~4 MP keeping details (40; needs prompt); "
                "creative: up to 4K reimagining detail (60; needs prompt; input at most 1 MP)."
            ),
        ] = "fast",
        prompt: Annotated[
            str | None, arg(ops.upscale_creative, "prompt", "What the image shows (not for fast).")
        ] = None,
        creativity: Annotated[
            float | None,
            Field(
                description="How much new detail to invent: conservative 0.2-0.5 (default "
                "0.35), creative 0.1-0.5 (default 0.3).",
                ge=0.1,
                le=0.5,
            ),
        ] = None,
        seed: Annotated[int | None, arg(ops.upscale_creative, "seed")] = None,
        output_format: Annotated[
            OutputFormat | None, arg(ops.upscale_fast, "output_format")
        ] = None,
        wait_seconds: Annotated[
            float,
            Field(description="creative only: how long to wait for the result.", ge=0, le=3600),
        ] = DEFAULT_WAIT_SECONDS,
    ) -> list[ContentBlock]:
        """Upscale an image; returns the saved file's path and the image."""
        data = _image(image, "image")
        if service == "fast":
            if prompt is not None or creativity is not None:
                raise ToolError("prompt and creativity: not for service fast")
            return await run("upscale", lambda c: c.upscale_fast(data, output_format=output_format))
        if not prompt:
            raise ToolError(f"prompt: required for service {service}")
        options: dict[str, Any] = {
            "creativity": creativity,
            "seed": seed,
            "output_format": output_format,
        }
        if service == "conservative":
            conservative = AsyncClient.upscale_conservative
            return await run("upscale", lambda c: conservative(c, data, prompt, **options))

        async def creative(client: AsyncClient) -> MediaResult:
            job = await client.upscale_creative(data, prompt, **options)
            return await job.wait(timeout=wait_seconds)

        return await run("upscale", creative)

    @tool(structured_output=False)
    async def inpaint_image(
        image: Annotated[str, Field(description="Image to edit. " + IMAGE_HELP)],
        prompt: Annotated[str, arg(ops.edit_inpaint, "prompt")],
        mask: Annotated[
            str | None,
            Field(
                description="Grayscale mask, white where to repaint; else the image's "
                "transparent pixels are repainted. " + IMAGE_HELP
            ),
        ] = None,
        grow_mask: Annotated[int | None, arg(ops.edit_inpaint, "grow_mask")] = None,
        negative_prompt: Annotated[str | None, arg(ops.edit_inpaint, "negative_prompt")] = None,
        style_preset: Annotated[StylePreset | None, arg(ops.edit_inpaint, "style_preset")] = None,
        seed: Annotated[int | None, arg(ops.edit_inpaint, "seed")] = None,
        output_format: Annotated[
            OutputFormat | None, arg(ops.edit_inpaint, "output_format")
        ] = None,
    ) -> list[ContentBlock]:
        """Repaint the masked part of an image following a prompt."""
        data = _image(image, "image")
        mask_data = _image(mask, "mask") if mask is not None else None
        return await run(
            "inpaint",
            lambda c: c.edit_inpaint(
                data,
                prompt,
                mask=mask_data,
                grow_mask=grow_mask,
                negative_prompt=negative_prompt,
                style_preset=style_preset,
                seed=seed,
                output_format=output_format,
            ),
        )

    @tool(structured_output=False)
    async def list_available_models() -> str:
        """The engines the key may use, as ``{label, value}`` options (value is the id)."""
        async with _client(client_factory) as client:
            engines = await client.engines()
        return json.dumps(
            [
                {"label": e.name, "value": e.id, "description": e.description, "type": e.type}
                for e in engines
            ]
        )

    @tool(structured_output=False)
    async def get_account() -> str:
        """The account behind the API key and its organizations."""
        async with _client(client_factory) as client:
            account = await client.account()
        orgs = [vars(org) for org in account.organizations]
        return json.dumps({**vars(account), "organizations": orgs})

    @tool(structured_output=False)
    async def get_balance() -> str:
        """The credits left."""
        async with _client(client_factory) as client:
            balance = await client.balance()
        return json.dumps({"credits": balance.credits})

    @tool(structured_output=False)
    async def get_result(
        generation_id: Annotated[
            str, Field(description="The id an asynchronous generation returned.", min_length=1)
        ],
        wait_seconds: Annotated[
            float, Field(description="How long to wait if it is still running.", ge=0, le=3600)
        ] = 0,
    ) -> list[ContentBlock]:
        """The result of an asynchronous generation (creative upscale, relight, video);
        while it runs, its status and progress."""
        async with _client(client_factory) as client:
            job = await client.generation(generation_id)
            try:
                result = await job.wait(timeout=wait_seconds) if wait_seconds else await job.poll()
            except GenerationTimeoutError:
                result = None
            if result is None:
                status = {"id": job.id, "status": job.status, "progress": job.progress}
                return [TextContent(type="text", text=json.dumps(status))]
        return _answer(save_result(result, output_dir, "result"), result)

    return server


class _client:
    """``async with _client(factory) as client``, turning client errors into tool errors."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._client: AsyncClient | None = None

    async def __aenter__(self) -> AsyncClient:
        try:
            self._client = self._factory()
        except StabilityError as exc:  # no key configured
            raise ToolError(str(exc)) from exc
        return self._client

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        assert self._client is not None
        await self._client.aclose()
        if isinstance(exc, StabilityError) and not isinstance(exc, GenerationTimeoutError):
            raise ToolError(str(exc)) from exc


def _image(value: str, name: str) -> bytes:
    try:
        return read_image_argument(value, name)
    except (ImageArgumentError, OSError) as exc:
        raise ToolError(str(exc)) from exc


def _answer(path: Path, result: MediaResult) -> list[ContentBlock]:
    info = {
        "path": str(path),
        "media_type": result.media_type,
        "seed": result.seed,
        "finish_reason": result.finish_reason,
    }
    blocks: list[ContentBlock] = [TextContent(type="text", text=json.dumps(info))]
    shown = preview(result)
    if shown is not None:
        data, mime_type = shown
        encoded = base64.b64encode(data).decode("ascii")
        blocks.append(ImageContent(type="image", data=encoded, mime_type=mime_type))
    return blocks
