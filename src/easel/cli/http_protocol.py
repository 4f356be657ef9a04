"""uvicorn's h11 protocol with read deadlines and a connection cap, against slow clients.

uvicorn only times out *idle* keep-alive connections, and only after a first
response: a client that opens a connection and sends half a header line, or
a body one byte at a time, holds the connection (and a file descriptor)
forever. This protocol gives each request a deadline to arrive in full —
`header_timeout` for the request line and headers, counted from the
connection's opening or, on a kept-alive connection, from the next request's
first byte; then `body_timeout` more for the body — and closes the
connection when it passes. The ASGI middleware answers 408 first when the
app is waiting on the body; this is the backstop for bodies nobody reads
(say, after a 401). Connections beyond `max_connections` are closed as soon
as they are accepted.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("easel.server")


class DeadlineH11Protocol(H11Protocol):
    """Set by `deadline_protocol`; the class uvicorn builds one of per connection."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000

    _deadline: asyncio.TimerHandle | None = None
    _reading_body = False

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

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm(self.header_timeout)  # the next request on a kept-alive connection
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request()

    def _follow_request(self) -> None:
        """Move the deadline on as the request arrives: headers done, body done."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if not self._reading_body:
                self._arm(self.body_timeout)
                self._reading_body = True
        elif state is not h11.IDLE:  # the whole request is in, or the connection is ending
            self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._reading_body = False

    def _expired(self) -> None:
        self._deadline = None
        log.debug("closing a connection whose request did not arrive in time: %s", self.client)
        self.transport.close()


def deadline_protocol(
    *, header_timeout: float, body_timeout: float, max_connections: int
) -> type[DeadlineH11Protocol]:
    """A protocol class carrying these limits, for `uvicorn.Config(http=...)`."""
    return type(
        "ConfiguredDeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {
            "header_timeout": header_timeout,
            # the middleware's 408 comes first when the app is reading the body
            "body_timeout": body_timeout + 1,
            "max_connections": max_connections,
        },
    )
