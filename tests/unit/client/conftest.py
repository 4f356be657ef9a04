"""Fixtures for the client SDK tests: a scripted HTTP server behind
``httpx.MockTransport``, a fake clock whose sleeps only advance time, and
clients wired to both. Nothing here touches the network or really sleeps."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from easel.client import AsyncClient, Client, RetryPolicy

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(48))
API_KEY = "sk-test-123"


class Server:
    """Routes ``(method, path)`` to a queue of outcomes; the last one repeats.

    An outcome is ``(status, body)`` or ``(status, body, headers)`` (a ``bytes``
    body is sent raw, anything else as JSON), a bare JSON body (status 200), a
    ``request -> Response`` callable, or an exception to raise (a dropped
    connection, a timeout). Every request is recorded with its body read.
    Test data helpers live here too, so test modules need no imports from
    this conftest.
    """

    PNG = PNG

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Any]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *outcomes: Any) -> Server:
        self.routes[(method, path)] = list(outcomes)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return self._respond(self.v1_error(404, "not_found", f"no route {request.url.path}"))
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, Exception):
            raise outcome
        if callable(outcome):
            return outcome(request)
        return self._respond(outcome)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self.handler(request)

    @staticmethod
    def _respond(outcome: Any) -> httpx.Response:
        if not isinstance(outcome, tuple):
            outcome = (200, outcome)
        status, body, headers = (*outcome, None) if len(outcome) == 2 else outcome
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    @staticmethod
    def artifact(seed: int = 42, data: bytes = PNG, reason: str = "SUCCESS") -> dict[str, Any]:
        """One v1 artifact as the server sends it."""
        return {"base64": base64.b64encode(data).decode(), "seed": seed, "finishReason": reason}

    @classmethod
    def artifacts(cls, *seeds: int, headers: dict[str, str] | None = None) -> tuple[Any, ...]:
        """A 200 generation response with one artifact per seed."""
        body = {"artifacts": [cls.artifact(seed) for seed in seeds or (42,)]}
        return (200, body, headers or {"X-Request-Id": "req-ok", "X-Generation-Id": "gen-1"})

    @staticmethod
    def v1_error(
        status: int,
        name: str,
        message: str,
        *,
        request_id: str = "req-1",
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, ...]:
        """A v1 error ``{id, name, message}`` with an ``X-Request-Id`` header."""
        body = {"id": "a" * 32, "name": name, "message": message}
        return (status, body, {"X-Request-Id": request_id, **(headers or {})})

    @staticmethod
    def form(request: httpx.Request) -> dict[str, Any]:
        """Fields of a multipart request: text as ``str``, files as
        ``(filename, content_type, bytes)``."""
        content_type = request.headers["content-type"]
        assert content_type.startswith("multipart/form-data"), content_type
        boundary = content_type.split("boundary=", 1)[1].encode()
        fields: dict[str, Any] = {}
        for part in request.content.split(b"--" + boundary)[1:-1]:
            head, _, body = part[2:].partition(b"\r\n\r\n")
            body = body[:-2]
            headers = dict(
                line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line
            )
            params = dict(
                item.strip().split("=", 1)
                for item in headers["Content-Disposition"].split(";")[1:]
                if "=" in item
            )
            name = params["name"].strip('"')
            if "filename" in params:
                fields[name] = (params["filename"].strip('"'), headers.get("Content-Type"), body)
            else:
                fields[name] = body.decode()
        return fields


class FakeClock:
    """A monotonic clock that moves only when a test sleeps or advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


# Deterministic backoff: jitter always returns its upper bound.
MAX_JITTER = RetryPolicy(jitter=lambda low, high: high)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(server: Server, clock: FakeClock) -> Iterator[Callable[..., Client]]:
    """Build a `Client` on the scripted server; keyword arguments override."""
    clients: list[Client] = []

    def factory(handler: Callable[[httpx.Request], httpx.Response] | None = None, **options: Any):
        options.setdefault("api_key", API_KEY)
        options.setdefault("sleep", clock.sleep)
        options.setdefault("clock", clock)
        options.setdefault("retry", MAX_JITTER)
        options.setdefault("rate_limit", None)
        client = Client(transport=httpx.MockTransport(handler or server.handler), **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


@pytest.fixture
async def make_async_client(
    server: Server, clock: FakeClock
) -> AsyncIterator[Callable[..., AsyncClient]]:
    """Build an `AsyncClient` on the scripted server; keyword arguments override."""
    clients: list[AsyncClient] = []

    def factory(handler: Any = None, **options: Any) -> AsyncClient:
        options.setdefault("api_key", API_KEY)
        options.setdefault("sleep", clock.asleep)
        options.setdefault("clock", clock)
        options.setdefault("retry", MAX_JITTER)
        options.setdefault("rate_limit", None)
        transport = httpx.MockTransport(handler or server.async_handler)
        client = AsyncClient(transport=transport, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
async def async_client(make_async_client: Callable[..., AsyncClient]) -> AsyncClient:
    return make_async_client()
