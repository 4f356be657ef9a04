"""``easel mcp``: serve the MCP tools (`easel.mcp.server`) over stdio or streamable HTTP.

The host and key come from ``API_HOST`` and ``STABILITY_API_KEY`` (the SDK's
precedence), so the same command fronts easel or api.stability.ai.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

DEFAULT_MCP_PORT = 8765


def register(app: typer.Typer) -> None:
    """Add ``mcp`` to `app`."""

    @app.command("mcp")
    def mcp(
        transport: Annotated[
            Literal["stdio", "http"],
            typer.Option(
                help="stdio (for a desktop client that starts the server) or http "
                "(streamable HTTP at http://HOST:PORT/mcp).",
            ),
        ] = "stdio",
        host: Annotated[str, typer.Option(help="Address to listen on (http).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on (http).")] = DEFAULT_MCP_PORT,
        output_dir: Annotated[
            Path,
            typer.Option(
                "--output-dir",
                envvar="EASEL_MCP_OUTPUT_DIR",
                help="Directory the tools save their results in (created if missing).",
            ),
        ] = Path("easel-output"),
    ) -> None:
        """Serve the image tools to MCP clients (host/key: $API_HOST, $STABILITY_API_KEY)."""
        from easel.mcp.server import build_server  # imported on use: the CLI starts fast

        server = build_server(output_dir.expanduser().resolve())
        if transport == "stdio":
            server.run("stdio")
        else:
            mode: Literal["streamable-http"] = "streamable-http"
            server.run(mode, host=host, port=port)
