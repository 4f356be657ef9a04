"""The job runner in a second OS process, against the API process's database.

The "API process" is this test: it submits jobs through the generation
service, cancels them and recovers them through the job service. A second
process (`worker_main`) runs each job from the job store and the artifact
store alone. Both database kinds are covered: a SQLite file and PostgreSQL.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from easel.db import migrate
from easel.engines.base import WeightedPrompt
from easel.generation.requests import TextToImage
from easel.jobs.models import JobView
from easel.jobs.service import Submission
from easel.wiring import Core, build_core
from tests.factories import TestAccount, make_account, make_settings
from tests.processes import die_with_parent

SD = "stable-diffusion-v1-6"
REPO = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 1.0


@dataclass
class Api:
    core: Core
    account: TestAccount
    env: dict[str, str]
    step_log: Path
    workers: list[subprocess.Popen[str]]

    async def submit(self, steps: int) -> str:
        op = TextToImage(prompts=(WeightedPrompt("a lighthouse"),), steps=steps, seed=7)
        who = Submission(
            organization_id=self.account.org_id,
            user_id=self.account.user_id,
            api_key_id=self.account.key_id,
            request_id="req-1",
        )
        handle = await self.core.generation.start(SD, op, who)
        return handle.id

    def worker(self, job_id: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.jobs.worker_main", job_id],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            preexec_fn=die_with_parent,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.workers.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", process.stdout.read()
        return process

    def job(self, job_id: str) -> JobView:
        view = self.core.store.get(job_id)
        assert view is not None
        return view

    def steps_done(self) -> int:
        return len(self.step_log.read_text().split()) if self.step_log.exists() else 0

    def credits(self) -> float:
        return self.core.billing.available_credits(self.account.org_id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Both databases: a SQLite file two processes share, and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[Api]:
    data = tmp_path / "data"
    settings = make_settings(data, db_url, jobs={"lease_seconds": LEASE_SECONDS})
    migrate.upgrade(db_url)
    # the executor is never started: this process only submits, cancels and recovers
    core = build_core(settings)
    account = make_account(core.accounts, core.billing, credits=50)
    step_log = tmp_path / "steps.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "EASEL_DATABASE__URL": db_url,
        "EASEL_SERVER__DATA_DIR": str(data),
        "EASEL_JOBS__LEASE_SECONDS": str(LEASE_SECONDS),
        "EASEL_TEST_STEP_LOG": str(step_log),
    }
    api = Api(core, account, env, step_log, [])
    yield api
    for worker in api.workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait(10)
        assert worker.stdout is not None
        worker.stdout.close()
    core.db.dispose()


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)


async def test_a_job_submitted_here_completes_in_another_process(api: Api) -> None:
    job_id = await api.submit(steps=10)
    assert api.job(job_id).status == "queued"
    worker = api.worker(job_id)
    assert worker.wait(60) == 0, worker.stdout.read() if worker.stdout else ""

    job = api.job(job_id)
    assert job.status == "succeeded"
    assert api.steps_done() == 10
    assert job.credits_charged_milli > 0
    assert api.credits() == 50 - job.credits_charged_milli / 1000
    (artifact,) = job.artifacts
    image = Image.open(io.BytesIO(api.core.artifacts.get(artifact.key)))
    assert (image.format, image.size) == ("PNG", (512, 512))


async def test_a_cancel_from_here_stops_the_other_process_within_one_step(api: Api) -> None:
    job_id = await api.submit(steps=150)
    worker = api.worker(job_id)
    wait_for(lambda: api.steps_done() >= 3)

    api.core.jobs.cancel_job(job_id)
    at_cancel = api.steps_done()
    assert worker.wait(30) == 0

    assert api.steps_done() - at_cancel <= 1
    job = api.job(job_id)
    assert job.status == "cancelled"
    assert job.credits_charged_milli == 0
    assert api.credits() == 50


async def test_a_killed_worker_is_recovered_through_its_lease(api: Api) -> None:
    job_id = await api.submit(steps=150)
    worker = api.worker(job_id)
    wait_for(lambda: api.steps_done() >= 3)
    assert api.job(job_id).status == "running"
    assert api.credits() < 50  # reserved

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    # nothing renews the lease now; until it expires, recovery leaves the job alone
    assert api.core.jobs.recover_expired_leases() == 0
    wait_for(lambda: api.core.jobs.recover_expired_leases() == 1, timeout=LEASE_SECONDS * 10)

    job = api.job(job_id)
    assert job.status == "failed"
    assert job.error_name == "server_error"
    assert job.credits_charged_milli == 0
    assert api.credits() == 50
    assert api.core.jobs.recover_expired_leases() == 0  # settled once, never twice
