"""`easel serve` with its default executor: generation runs in local worker processes.

A real server on 127.0.0.1 with one CPU worker process on the sandbox engines:
the generation runs in the worker (its lease names the worker's PID), the PNG
is byte-identical to the in-process executor's, a worker SIGKILLed mid-job
is restarted while its job is failed and refunded, and a cancel stops a job
running in the worker.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import RunningServer, start_server, stop_server

SD = "stable-diffusion-v1-6"
# the smallest size SD 1.6 takes: the machine that runs CI is small and shared
SIZE = {"width": 320, "height": 320}
BODY = {"text_prompts": [{"text": "a lighthouse"}], "steps": 10, "seed": 1234, **SIZE}
SLOW = {"text_prompts": [{"text": "a slow lighthouse"}], "steps": 150, "seed": 1, **SIZE}
# short leases: recovery's backstop acts within seconds
ENV = {"EASEL_JOBS__LEASE_SECONDS": "2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("workers") / "data", env=ENV)
    wait_for(lambda: ready(running), "the worker to start")
    yield running
    stop_server(running)


def headers(server: RunningServer, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}", **extra}


def ready(server: RunningServer) -> bool:
    return httpx.get(f"{server.url}/readyz").status_code == 200


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def worker_pids(server: RunningServer) -> list[int]:
    """The server's worker processes (spawned Python children running easel's worker)."""
    return [
        pid
        for pid in children(server.process.pid)
        if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def lease_owner(server: RunningServer, job_id: str) -> str:
    with sqlite3.connect(server.data_dir / "easel.db") as db:
        row = db.execute("SELECT owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return str(row[0])


def generate(server: RunningServer, **extra: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/generation/{SD}/text-to-image",
        headers=headers(server, Accept="image/png", **extra),
        json=BODY,
        timeout=300,
    )


def job(server: RunningServer, ref: str) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/v1/generations/{ref}", headers=headers(server))
    result: dict[str, Any] = answer.json()
    return result


def credits(server: RunningServer) -> float:
    balance = httpx.get(f"{server.url}/v1/user/balance", headers=headers(server)).json()
    return float(balance["credits"])


def start_slow(server: RunningServer, key: str) -> threading.Thread:
    """A long generation in the background under an idempotency key; returns once it runs."""

    def post() -> None:
        try:
            httpx.post(
                f"{server.url}/v1/generation/{SD}/text-to-image",
                headers=headers(server, **{"Idempotency-Key": key}),
                json=SLOW,
                timeout=300,
            )
        except httpx.HTTPError:
            pass

    client = threading.Thread(target=post, daemon=True)
    client.start()
    wait_for(
        lambda: job(server, key).get("status") == "running" and job(server, key)["progress"] > 0,
        "the slow job to run",
    )
    return client


def test_generation_runs_in_a_worker_process_and_matches_in_process(
    server: RunningServer, tmp_path: Path
) -> None:
    (worker,) = worker_pids(server)
    answer = generate(server)
    assert answer.status_code == 200, answer.text
    owner = lease_owner(server, answer.headers["X-Generation-Id"])
    assert owner.split(":")[1] == str(worker) != str(server.process.pid)

    inprocess = start_server(tmp_path / "data", env={"EASEL_JOBS__EXECUTOR": "inprocess"})
    try:
        assert worker_pids(inprocess) == []
        same = generate(inprocess)
        assert same.status_code == 200, same.text
        owner = lease_owner(inprocess, same.headers["X-Generation-Id"])
        assert owner.split(":")[1] == str(inprocess.process.pid)
    finally:
        stop_server(inprocess)
    assert same.content == answer.content


def test_cancel_stops_a_job_running_in_a_worker(server: RunningServer) -> None:
    before = credits(server)
    client = start_slow(server, "cancel-me")
    cancelled = httpx.delete(
        f"{server.url}/v1/generation/{job(server, 'cancel-me')['id']}", headers=headers(server)
    )
    assert cancelled.status_code == 200, cancelled.text
    wait_for(lambda: job(server, "cancel-me")["status"] != "running", "the cancel", timeout=30)
    final = job(server, "cancel-me")
    assert final["status"] == "cancelled"
    assert final["progress"] < 0.5
    assert credits(server) == before
    client.join(30)


def test_a_killed_worker_is_restarted_and_its_job_failed_and_refunded(
    server: RunningServer,
) -> None:
    before = credits(server)
    client = start_slow(server, "crash-1")
    (worker,) = worker_pids(server)
    owner = lease_owner(server, job(server, "crash-1")["id"])
    assert owner.split(":")[1] == str(worker)
    assert credits(server) < before  # reserved while running

    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: job(server, "crash-1")["status"] != "running", "recovery", timeout=30)
    final = job(server, "crash-1")
    assert final["status"] == "failed"
    assert final["error"]["name"] == "server_error"
    assert final["credits_charged"] == 0
    assert credits(server) == before
    client.join(30)

    wait_for(lambda: ready(server), "the new worker")
    (restarted,) = worker_pids(server)
    assert restarted != worker
    answer = generate(server)
    assert answer.status_code == 200, answer.text
    assert lease_owner(server, answer.headers["X-Generation-Id"]).split(":")[1] == str(restarted)
