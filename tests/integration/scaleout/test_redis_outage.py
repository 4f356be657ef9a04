"""Redis stopped and started again under a running API and its notifiers.

Against a private redis-server (restartable on its port): while it is down the shared
rate limit answers 503 with Retry-After and pub/sub messages are dropped without an
error; once it is back both work again in the same process, with no restart.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from easel.api.app import create_app
from easel.jobs.redis_notifier import RedisJobNotifier
from tests.factories import TestAccount, make_account, make_settings
from tests.integration.scaleout.conftest import PrivateRedis

RECOVERY_SECONDS = 30


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def api(
    tmp_path: Path, migrated_db_url: str, redis_server: PrivateRedis
) -> AsyncIterator[tuple[httpx.AsyncClient, TestAccount]]:
    settings = make_settings(
        tmp_path / "data",
        migrated_db_url,
        database={"migrate_on_start": False},
        rate_limit={"backend": "redis", "redis_url": redis_server.url},
    )
    app = create_app(settings)
    services = app.state.services
    account = make_account(services.accounts, services.billing)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://easel.test") as client:
            yield client, account


async def test_the_rate_limit_answers_503_while_redis_is_down_and_recovers(
    api: tuple[httpx.AsyncClient, TestAccount], redis_server: PrivateRedis
) -> None:
    client, account = api
    assert (await client.get("/v1/user/balance", headers=account.headers)).status_code == 200

    redis_server.stop()
    down = await client.get("/v1/user/balance", headers=account.headers)
    assert down.status_code == 503
    assert int(down.headers["retry-after"]) >= 1
    assert down.json()["name"] == "rate_limiter_unavailable"

    redis_server.start()
    # the pooled connections died with the old server: the next hit reconnects
    up = await client.get("/v1/user/balance", headers=account.headers)
    assert up.status_code == 200, up.text


def test_pub_sub_drops_messages_while_redis_is_down_and_listens_again_after(
    redis_server: PrivateRedis,
) -> None:
    channel = f"test:{uuid.uuid4().hex}"
    api = RedisJobNotifier(redis_server.url, channel=channel)
    worker = RedisJobNotifier(redis_server.url, channel=channel)
    heard = threading.Event()
    worker.on_cancel(lambda job_id: job_id == "job-1" and heard.set())
    api.start()
    worker.start()
    try:
        assert _cancel_reaches(api, heard)
        assert worker.hears_cancels  # its runner may space out its store reads
        redis_server.stop()
        heard.clear()
        api.cancel("job-1")  # logged and dropped, never raised
        api.notify("job-1")
        assert not heard.wait(0.5)
        # ... and must read the store after every step again until the listener is back
        assert _eventually(lambda: not worker.hears_cancels)
        redis_server.start()
        # the worker's listener resubscribes on its own (every second while Redis is away)
        assert _cancel_reaches(api, heard)
        assert worker.hears_cancels
    finally:
        api.stop()
        worker.stop()


def _eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _cancel_reaches(api: RedisJobNotifier, heard: threading.Event) -> bool:
    """Publish a cancel until the other notifier hears one (subscribing is asynchronous)."""
    for _ in range(int(RECOVERY_SECONDS / 0.2)):
        api.cancel("job-1")
        if heard.wait(0.2):
            return True
    return False
