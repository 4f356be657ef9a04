"""A server killed mid-job: on the next start the job is failed and nothing is charged."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.integration.conftest import start_server, stop_server


def test_killed_server_fails_its_running_job_and_releases_credits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    headers = {"Authorization": f"Bearer {first.api_key}"}
    body = {"text_prompts": [{"text": "a slow lighthouse"}], "steps": 150, "seed": 1}

    def generate() -> None:
        try:
            httpx.post(
                f"{first.url}/v1/generation/stable-diffusion-v1-6/text-to-image",
                headers={**headers, "Idempotency-Key": "crash-1"},
                json=body,
                timeout=300,
            )
        except httpx.HTTPError:
            pass  # the server dies under this request

    client = threading.Thread(target=generate, daemon=True)
    client.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        answer = httpx.get(f"{first.url}/v1/generations/crash-1", headers=headers)
        if answer.status_code == 200 and answer.json()["status"] == "running":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the job never started running")
    balance_during = httpx.get(f"{first.url}/v1/user/balance", headers=headers).json()
    assert balance_during["credits"] < 1000  # reserved while running

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    client.join(10)

    second = start_server(data)
    try:
        job = httpx.get(f"{second.url}/v1/generations/crash-1", headers=headers).json()
        assert job["status"] == "failed"
        assert job["credits_charged"] == 0
        assert job["error"]["name"] == "server_error"
        balance = httpx.get(f"{second.url}/v1/user/balance", headers=headers).json()
        assert balance == {"credits": 1000.0}
    finally:
        stop_server(second)
