"""The real server as a subprocess, driven over HTTP with the key its first start printed."""

from __future__ import annotations

import socket

import httpx

from tests.integration.conftest import RunningServer, start_server, stop_server


def test_first_start_prints_a_working_key(running_server: RunningServer) -> None:
    assert running_server.api_key.startswith("sk-")
    headers = {"Authorization": f"Bearer {running_server.api_key}"}
    account = httpx.get(f"{running_server.url}/v1/user/account", headers=headers).json()
    assert account["email"] == "admin@easel.example"
    assert account["organizations"][0]["is_default"] is True
    balance = httpx.get(f"{running_server.url}/v1/user/balance", headers=headers).json()
    # 1000 granted at bootstrap; the session's other tests share this server and spend some
    assert 0 < balance["credits"] <= 1000.0
    engines = httpx.get(f"{running_server.url}/v1/engines/list", headers=headers).json()
    assert "stable-diffusion-v1-6" in {e["id"] for e in engines}


def test_key_is_printed_only_on_first_start(running_server: RunningServer) -> None:
    second = start_server(running_server.data_dir)
    try:
        assert second.api_key == ""
        headers = {"Authorization": f"Bearer {running_server.api_key}"}
        assert httpx.get(f"{second.url}/v1/user/balance", headers=headers).status_code == 200
    finally:
        stop_server(second)


def test_errors_over_real_http(running_server: RunningServer) -> None:
    response = httpx.get(f"{running_server.url}/v1/user/account")
    assert response.status_code == 401
    assert response.json()["id"] == response.headers["x-request-id"]
    assert httpx.get(f"{running_server.url}/nope").status_code == 404


def test_oversized_headers_are_refused(running_server: RunningServer) -> None:
    response = httpx.get(
        f"{running_server.url}/v1/user/account",
        headers={"Authorization": "Bearer " + "k" * 100_000},
    )
    assert 400 <= response.status_code < 500


def test_garbage_on_the_socket_does_not_kill_the_server(running_server: RunningServer) -> None:
    host, port = running_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        sock.recv(1024)
    assert httpx.get(f"{running_server.url}/healthz").status_code == 200
