"""Integration fixtures: a real `easel serve` process on a free loopback port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import die_with_parent

MODELS_DIR_ENV = "EASEL_TEST_MODELS_DIR"
KEY_LINE = re.compile(r"API key \(shown once, keep it safe\): (sk-\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    api_key: str
    process: subprocess.Popen[str]
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


def start_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    wrap: list[str] | None = None,
) -> RunningServer:
    """Start `easel serve` and wait until it answers; returns the key its first start printed.

    `wrap` runs the server under another command (e.g. `unshare --pid …`).
    """
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    # Sandbox models are built once per test session and shared by every server.
    if MODELS_DIR_ENV in os.environ:
        full_env.setdefault("EASEL_ENGINE__MODELS_DIR", os.environ[MODELS_DIR_ENV])
    with log_path.open("w") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [
                *(wrap or []),
                sys.executable,
                "-m",
                "easel.cli.main",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            stdout=log_file,
            preexec_fn=die_with_parent,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
    match = KEY_LINE.search(log_path.read_text())
    return RunningServer(
        url=url,
        api_key=match.group(1) if match else "",
        process=process,
        data_dir=data_dir,
        log_path=log_path,
    )


def stop_server(server: RunningServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session", autouse=True)
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One sandbox model directory for the whole session (servers find it by env)."""
    path = tmp_path_factory.mktemp("models")
    previous = os.environ.get(MODELS_DIR_ENV)
    os.environ[MODELS_DIR_ENV] = str(path)
    yield path
    if previous is None:
        os.environ.pop(MODELS_DIR_ENV, None)
    else:
        os.environ[MODELS_DIR_ENV] = previous


@pytest.fixture(scope="session")
def running_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("server") / "data")
    yield server
    stop_server(server)
