"""Calling an app as plain ASGI, so a test decides exactly what the client sends and
sees every message the app sends back (each body chunk, not one joined body)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp

Receive = Callable[[], Awaitable[dict[str, Any]]]


def http_scope(path: str, headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("easel.test", 80),
    }


async def call(
    app: ASGIApp, path: str, headers: dict[str, str], receive: Receive, method: str = "POST"
) -> list[dict[str, Any]]:
    """Every message the app sends for one request (bounded: a hung app fails the test)."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(http_scope(path, headers, method), receive, send), 10)
    return sent


def messages_then(*messages: dict[str, Any], then: str) -> Receive:
    """A client sending `messages`, then disconnecting or going silent."""
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        if then == "silence":
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive
