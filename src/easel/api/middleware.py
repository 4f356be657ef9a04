"""The outermost layer of easel's own: request id, body limit and read timeout,
timing, metrics, log.

Written as plain ASGI (not BaseHTTPMiddleware) so streaming responses and
client disconnects pass through untouched. A client that goes away before its
answer is a 499 (nginx's "client closed request") in the log line, the
request log and the metrics: its own doing, not a server error.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import anyio
from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from easel.api.errors import error_response
from easel.api.metrics import Metrics
from easel.api.services import SERVICES_SCOPE_KEY, RequestRecorder, Services
from easel.errors import ClientClosedRequest, PayloadTooLarge, RequestTimeout

log = logging.getLogger("easel.access")


class RequestContextMiddleware:
    """Runs in the process's shared routes app (`easel.api.routes`); the limits, metrics
    and request log are those of the app instance that put its services in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services: Services = scope[SERVICES_SCOPE_KEY]
        limits = services.settings.server
        await _RequestContext(
            self.app,
            metrics=services.metrics,
            max_body_bytes=int(limits.max_body_mb * 1024 * 1024),
            body_timeout_seconds=limits.body_timeout_seconds,
            record=services.record_request,
        )(scope, receive, send)


class _RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        body_timeout_seconds: float | None,
        record: RequestRecorder | None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-request-id", b"x-generation-id")
                ]
                headers.append((b"x-request-id", request_id.encode()))
                # every response to a generation carries its job id, errors included
                generation_id = state.get("generation_id")
                if generation_id:
                    headers.append((b"x-generation-id", generation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            too_large = self._declared_length(scope) > self.max_body_bytes
            if too_large:
                raise PayloadTooLarge(self._too_large_message())
            await self.app(scope, self._guarded(receive), send_with_id)
        except (PayloadTooLarge, RequestTimeout) as exc:
            if not response_started:
                response = error_response(Request(scope), exc.status, exc.name, exc.message)
                await response(scope, receive, send_with_id)
        except ClientDisconnect:
            # Nobody is left to answer; the access line below says 499, no traceback.
            status = ClientClosedRequest.status
        except Exception as exc:  # the last resort: nothing leaks, everything is logged
            log.error("unhandled error request_id=%s", request_id, exc_info=exc)
            if not response_started:
                response = error_response(
                    Request(scope),
                    500,
                    "server_error",
                    "An unexpected server error occurred, please try again.",
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(route, scope["method"], status, elapsed)
            log.info(
                "request_id=%s method=%s route=%s status=%d latency_ms=%.1f",
                request_id,
                scope["method"],
                route,
                status,
                elapsed * 1000,
            )
            if self.record is not None and route != "unmatched":
                self.record(scope, status, elapsed)  # queued only: no I/O here

    def _too_large_message(self) -> str:
        mib = self.max_body_bytes / (1024 * 1024)
        return f"body: payloads cannot be larger than {mib:g}MiB in size"

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    def _guarded(self, receive: Receive) -> Receive:
        """`receive` that refuses bodies over the size limit, and bodies that have not
        fully arrived `body_timeout_seconds` after the request began. Once the body is
        complete, receiving (waiting for a disconnect) is not limited."""
        received = 0
        limit = self.max_body_bytes
        timeout = self.body_timeout_seconds
        deadline = None if timeout is None else anyio.current_time() + timeout
        body_complete = False

        async def guarded_receive() -> Message:
            nonlocal received, body_complete
            if body_complete or deadline is None:
                message = await receive()
            else:
                with anyio.move_on_after(deadline - anyio.current_time()) as waited:
                    message = await receive()
                if waited.cancelled_caught:
                    raise RequestTimeout(
                        f"body: not received within {timeout:g} seconds",
                    )
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(self._too_large_message())
                body_complete = not message.get("more_body", False)
            return message

        return guarded_receive


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
