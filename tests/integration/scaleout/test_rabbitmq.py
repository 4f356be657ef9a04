"""The celery executor on RabbitMQ: an API in this process, one `easel worker`, the broker
at amqp://… and a private redis-server for pub/sub (progress, cancel) and batching.

The worker is `tests.integration.scaleout.slow_worker`: `easel worker`'s own process
(`build_celery_worker`) on an engine that sleeps 100 ms per step and logs each step,
so a job lasts as long as its `steps` ask and the test sees where the worker is.
Each run uses a queue of its own, deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import kombu
import pytest

from easel.api.app import EaselApp, create_app
from easel.db import migrate
from easel.errors import GenerationNotFound
from easel.jobs.models import JobView
from tests.conftest import RABBITMQ_URL, _postgres_schema
from tests.factories import TestAccount, make_account, make_settings
from tests.integration.scaleout.conftest import PrivateRedis, start_worker, stop_worker

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

SD = "stable-diffusion-v1-6"
REPO = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 5


@dataclass
class Deployment:
    db_url: str
    redis_url: str
    queue: str
    root: Path
    worker: subprocess.Popen[str]

    @property
    def steps_run(self) -> int:
        """Steps the worker's engine has completed, over every job."""
        log = self.root / "steps.log"
        return len(log.read_text().split()) if log.exists() else 0


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("rabbitmq")
    queue = f"easel-test-{uuid.uuid4().hex[:12]}"
    redis_server = PrivateRedis(root)
    redis_server.start()
    try:
        with _postgres_schema() as db_url:
            migrate.upgrade(db_url)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("EASEL_")},
                "PYTHONUNBUFFERED": "1",
                "EASEL_DATABASE__URL": db_url,
                # one host: the API and the worker share a local artifact directory
                "EASEL_STORAGE__LOCAL_DIR": str(root / "artifacts"),
                "EASEL_JOBS__EXECUTOR": "celery",
                "EASEL_JOBS__LEASE_SECONDS": str(LEASE_SECONDS),
                "EASEL_CELERY__BROKER_URL": RABBITMQ_URL,
                "EASEL_CELERY__REDIS_URL": redis_server.url,
                "EASEL_CELERY__QUEUE": queue,
                "EASEL_TEST_STEP_LOG": str(root / "steps.log"),
            }
            worker = start_worker(
                ["tests.integration.scaleout.slow_worker"], env, root / "worker.log", cwd=REPO
            )
            try:
                yield Deployment(db_url, redis_server.url, queue, root, worker)
            finally:
                stop_worker(worker)
                with kombu.Connection(RABBITMQ_URL) as connection:
                    connection.default_channel.queue_delete(queue)
    finally:
        redis_server.stop()


@pytest.fixture
async def api(
    deployment: Deployment, tmp_path: Path
) -> AsyncIterator[tuple[EaselApp, httpx.AsyncClient, TestAccount]]:
    settings = make_settings(
        tmp_path / "data",
        deployment.db_url,
        database={"migrate_on_start": False},
        storage={"local_dir": deployment.root / "artifacts"},
        jobs={"executor": "celery", "lease_seconds": LEASE_SECONDS},
        celery={
            "broker_url": RABBITMQ_URL,
            "redis_url": deployment.redis_url,
            "queue": deployment.queue,
        },
    )
    app = create_app(settings)
    services = app.state.services
    account = make_account(services.accounts, services.billing)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://easel.test", timeout=60
        ) as client:
            yield app, client, account


async def text_to_image(
    client: httpx.AsyncClient, account: TestAccount, *, steps: int, idem: str
) -> httpx.Response:
    return await client.post(
        f"/v1/generation/{SD}/text-to-image",
        json={"text_prompts": [{"text": "a lighthouse"}], "steps": steps, "seed": 5},
        headers={**account.headers, "Accept": "image/png", "Idempotency-Key": idem},
    )


async def job(app: EaselApp, account: TestAccount, idem: str) -> JobView:
    view: JobView = await app.state.services.jobs.get(account.key_id, idem)
    return view


async def test_a_job_queued_on_rabbitmq_runs_on_the_worker_and_is_charged_once(
    api: tuple[EaselApp, httpx.AsyncClient, TestAccount], deployment: Deployment
) -> None:
    app, client, account = api
    steps_before = deployment.steps_run
    done = await text_to_image(client, account, steps=10, idem="runs")
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "image/png"
    view = await job(app, account, "runs")
    assert view.status == "succeeded" and len(view.artifacts) == 1
    assert view.credits_charged_milli == view.credits_reserved_milli > 0
    assert deployment.steps_run - steps_before == 10  # the worker process ran it


async def test_a_cancel_stops_the_job_the_worker_is_running(
    api: tuple[EaselApp, httpx.AsyncClient, TestAccount], deployment: Deployment
) -> None:
    app, client, account = api
    billing = app.state.services.billing
    before = billing.available_credits(account.org_id)
    answer: list[httpx.Response] = []

    async def generate() -> None:
        # 150 steps: 15 s if nothing stops it
        answer.append(await text_to_image(client, account, steps=150, idem="cancel-me"))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(generate)
        await wait_running(app, account, "cancel-me")
        cancelled = await client.delete("/v1/generation/cancel-me", headers=account.headers)
        assert cancelled.status_code == 200
        steps_at_cancel = deployment.steps_run
    (response,) = answer
    assert response.status_code == 409, response.text
    assert response.json()["name"] == "cancelled"
    view = await job(app, account, "cancel-me")
    assert view.status == "cancelled" and view.progress < 1
    # the cancel reached the worker over pub/sub: it stopped within a step or two
    assert deployment.steps_run - steps_at_cancel <= 3
    assert billing.available_credits(account.org_id) == before  # nothing charged


async def wait_running(app: EaselApp, account: TestAccount, idem: str) -> None:
    with anyio.fail_after(30):
        while True:
            try:
                view = await job(app, account, idem)
            except GenerationNotFound:  # not stored yet
                pass
            else:
                if view.status == "running" and view.progress > 0:
                    return
            await anyio.sleep(0.05)
