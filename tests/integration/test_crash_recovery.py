"""A server killed mid-job: once its lease expires the job is failed and nothing is charged.

Run plainly, and inside a PID namespace (as in a container), where the
restarted server gets the dead one's PID: leases, not PIDs, decide.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import start_server, stop_server

LEASE = {"EASEL_JOBS__LEASE_SECONDS": "2"}
UNSHARE = shutil.which("unshare")


def can_unshare_pids() -> bool:
    if UNSHARE is None:
        return False
    probe = subprocess.run(
        [UNSHARE, "--pid", "--fork", "--mount-proc", "--kill-child", "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param([], id="plain"),
        pytest.param(
            [UNSHARE or "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
            id="pid-namespace",
            marks=pytest.mark.skipif(
                not can_unshare_pids(), reason="needs root for unshare --pid (CI runs as root)"
            ),
        ),
    ],
)
def test_killed_server_fails_its_running_job_and_releases_credits(
    tmp_path: Path, wrap: list[str]
) -> None:
    data = tmp_path / "data"
    first = start_server(data, env=LEASE, wrap=wrap)
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

    second = start_server(data, env=LEASE, wrap=wrap)
    try:

        def job() -> dict[str, Any]:
            answer = httpx.get(f"{second.url}/v1/generations/crash-1", headers=headers)
            result: dict[str, Any] = answer.json()
            return result

        deadline = time.monotonic() + 30
        while job()["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        final = job()
        assert final["status"] == "failed"
        assert final["credits_charged"] == 0
        assert final["error"]["name"] == "server_error"
        balance = httpx.get(f"{second.url}/v1/user/balance", headers=headers).json()
        assert balance == {"credits": 1000.0}
    finally:
        stop_server(second)
