"""uvicorn's httptools protocol with read deadlines, a header cap and a connection
cap, against slow and abusive clients.

uvicorn only times out *idle* keep-alive connections, and only after a first
response: a client that opens a connection and sends half a header line, or
a body one byte at a time, holds the connection (and a file descriptor)
forever. This protocol gives each request a deadline to arrive in full —
`header_timeout` for the request line and headers, counted from the
connection's opening or, on a kept-alive connection, from the next request's
first byte; then `body_timeout` more for the body — and closes the
connection when it passes. The ASGI middleware answers 408 first when the
app is waiting on the body; this is the backstop for bodies nobody reads
(say, after a 401). A request line and headers over `max_header_bytes` are
answered 400 and the connection closed (the C parser itself sets no bound).
Every request the parser refuses is answered in Stability's error format
(`{id, name, message}`), as the app answers the rest.
Connections beyond `max_connections` are closed as soon as they are accepted.

httptools (llhttp, in C) rather than h11: parsing a request and framing its
response in pure Python was a third of the API's own time for a small
request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("easel.server")


class HeadTooLarge(httptools.HttpParserError):
    """Raised from a parser callback: uvicorn answers any parser error 400 and closes."""


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """Set by `deadline_protocol`; the class uvicorn builds one of per connection."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1000

    _deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d connections open", len(self.connections) - 1)
            transport.close()
            return
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # parser callbacks: a request's first byte, its head, its end

    def on_message_begin(self) -> None:
        if self._deadline is None:
            self._arm(self.header_timeout)  # the next request on a kept-alive connection
        self._header_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout)  # a bodiless request completes at once, disarming it
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise HeadTooLarge(f"request line and headers over {self.max_header_bytes} bytes")

    def send_400_response(self, msg: str) -> None:
        """What uvicorn sends for a request the parser refused, in Stability's format
        (uvicorn's own is a line of plain text), and the connection closed."""
        request_id = uuid.uuid4().hex
        if self._header_bytes > self.max_header_bytes:
            msg = f"headers: the request line and headers exceed {self.max_header_bytes} bytes"
        body = json.dumps({"id": request_id, "name": "bad_request", "message": msg}).encode()
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: " + request_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        log.debug("closing a connection whose request did not arrive in time: %s", self.client)
        self.transport.close()


def deadline_protocol(
    *, header_timeout: float, body_timeout: float, max_connections: int
) -> type[DeadlineHttpToolsProtocol]:
    """A protocol class carrying these limits, for `uvicorn.Config(http=...)`."""
    return type(
        "ConfiguredDeadlineHttpToolsProtocol",
        (DeadlineHttpToolsProtocol,),
        {
            "header_timeout": header_timeout,
            # the middleware's 408 comes first when the app is reading the body
            "body_timeout": body_timeout + 1,
            "max_connections": max_connections,
        },
    )
