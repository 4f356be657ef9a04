"""Slow clients against a real `easel serve`: read deadlines and the connection cap.

Timeouts are set to a second so each check takes a few seconds; every loop
is bounded, so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import RunningServer, start_server, stop_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS = 20
# How long past its deadline a connection may linger before the test calls it held.
SLACK = 4.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path_factory.mktemp("slow") / "data",
        env={
            "EASEL_SERVER__HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "EASEL_SERVER__BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "EASEL_SERVER__MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        },
    )
    yield server
    stop_server(server)


def connect(server: RunningServer) -> socket.socket:
    url = urlsplit(server.url)
    return socket.create_connection((url.hostname, url.port), timeout=5)


def trickle_until_closed(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Send a byte every 0.2 s (as a slowloris does) until the server closes the
    connection; returns the seconds it took and what the server sent."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.2)
    for _ in range(int(limit / 0.2) + 1):
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            try:
                sock.sendall(b"a")
            except OSError:  # reset by the server: closed
                break
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    else:
        pytest.fail(f"connection still open after {limit} s; received {received!r}")
    return time.monotonic() - started, received


def test_slow_headers_are_cut_off(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: easel\r\nX-Slow: ")
        elapsed, received = trickle_until_closed(sock, HEADER_TIMEOUT + SLACK)
    assert received == b""
    assert elapsed >= HEADER_TIMEOUT * 0.9


def test_idle_connection_without_a_byte_is_cut_off(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.settimeout(HEADER_TIMEOUT + SLACK)
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started >= HEADER_TIMEOUT * 0.9


def slow_body_request(server: RunningServer, key: str | None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        "POST /v1/generation/stable-diffusion-v1-6/text-to-image HTTP/1.1\r\n"
        f"Host: easel\r\nContent-Type: application/json\r\n{auth}"
        "Content-Length: 1000\r\n\r\n"
        '{"text_prompts":'
    ).encode()


def test_slow_body_is_answered_408_and_closed(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(slow_body_request(server, server.api_key))
        elapsed, received = trickle_until_closed(sock, BODY_TIMEOUT + SLACK)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    error = json.loads(body)
    assert set(error) == {"id", "name", "message"} and error["name"] == "request_timeout"
    assert elapsed >= BODY_TIMEOUT * 0.9


def test_slow_body_nobody_reads_is_closed(server: RunningServer) -> None:
    # No key: the 401 goes out at once, and the unread body may not keep the connection.
    with connect(server) as sock:
        sock.sendall(slow_body_request(server, None))
        _, received = trickle_until_closed(sock, BODY_TIMEOUT + 1 + SLACK)
    assert received.startswith(b"HTTP/1.1 401 ")


def test_a_flood_holds_at_most_max_connections_and_only_until_the_deadline(
    server: RunningServer,
) -> None:
    flood = [connect(server) for _ in range(MAX_CONNECTIONS * 2)]
    try:
        for sock in flood:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        # the surplus is closed as soon as it is accepted; at most MAX_CONNECTIONS stay
        held = []
        for sock in flood:
            sock.settimeout(0.5)
            try:
                if sock.recv(1) != b"":
                    held.append(sock)
            except TimeoutError:
                held.append(sock)
            except ConnectionResetError:
                pass
        assert 0 < len(held) <= MAX_CONNECTIONS
        # and those go at the header deadline, after which the server answers again
        for sock in held:
            sock.settimeout(HEADER_TIMEOUT + SLACK)
            assert sock.recv(1) == b""
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in flood:
            sock.close()


def test_normal_clients_are_unaffected(server: RunningServer, tmp_path: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(3):  # kept-alive connection, several requests
            assert client.get("/healthz").status_code == 200
        response = client.get("/v1/user/balance", headers={"Authorization": server.api_key})
        assert response.status_code == 200


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    sock.settimeout(SLACK)
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_request_head_over_64_kib_is_refused_and_the_connection_closed(
    server: RunningServer,
) -> None:
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"a" * 1000) for n in range(80))
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: easel\r\n" + filler + b"\r\n")
        try:
            received = read_until_closed(sock)
        except ConnectionResetError:  # closed with some of our bytes unread: no 400 to read
            received = b""
    assert received == b"" or received.startswith(b"HTTP/1.1 400 "), received
    if received:  # in Stability's error format, as every other refusal
        error = json.loads(received.partition(b"\r\n\r\n")[2])
        assert set(error) == {"id", "name", "message"} and error["name"] == "bad_request"
        assert "exceed 65536 bytes" in error["message"]


def test_a_request_the_parser_refuses_is_answered_in_stabilitys_error_format(
    server: RunningServer,
) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: easel\r\nBad Header\r\n\r\n")
        received = read_until_closed(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), received
    error = json.loads(body)
    assert set(error) == {"id", "name", "message"} and error["name"] == "bad_request"
    assert f"x-request-id: {error['id']}".encode() in head.lower()


def test_request_heads_under_the_cap_are_served_on_a_kept_alive_connection(
    server: RunningServer,
) -> None:
    # each request's head is counted on its own: two of 48 KiB on one connection pass
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(2):
            assert client.get("/healthz", headers={"X-Big": "a" * 48 * 1024}).status_code == 200
