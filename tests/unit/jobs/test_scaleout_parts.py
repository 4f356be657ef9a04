"""The celery executor's parts that need no broker: fair classes, settings, the batch
index and the pub/sub notifier (the last two against the shared Redis)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import redis
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from easel.config import Settings
from easel.jobs.batch_index import BatchIndex
from easel.jobs.executors.celery import priority_class
from easel.jobs.redis_notifier import RedisJobNotifier
from tests.conftest import REDIS_URL


def test_an_organizations_backlog_sinks_through_the_classes() -> None:
    assert [priority_class(n) for n in (1, 2, 3, 8, 9, 32, 33, 500)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_the_celery_executor_refuses_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="need a shared PostgreSQL database"):
        Settings(server={"data_dir": tmp_path}, jobs={"executor": "celery"})
    Settings(
        server={"data_dir": tmp_path},
        jobs={"executor": "celery"},
        database={"url": "postgresql+psycopg://postgres@127.0.0.1/test"},
    )


@pytest.mark.redis
def test_the_batch_index_drains_other_jobs_of_the_same_key_once() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    index = BatchIndex(client, ttl_seconds=60, prefix=f"test:{uuid.uuid4().hex}")
    for job_id in ("a", "b", "c", "d"):
        index.add("key-1", job_id)
    index.add("key-2", "x")
    assert index.drain("key-1", "b", 2) == ["a", "c"]
    assert index.drain("key-1", "d", 3) == []  # the leader itself is dropped, never returned
    assert index.drain("key-2", "y", 3) == ["x"]
    client.close()


@pytest.mark.redis
def test_the_batch_index_degrades_to_no_batching_without_redis() -> None:
    closed = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    index = BatchIndex(closed, ttl_seconds=60)
    index.add("key", "a")  # logged, not raised
    assert index.drain("key", "a", 3) == []


@pytest.mark.redis
async def test_a_process_hears_progress_only_while_a_subscription_there_follows_it() -> None:
    channel = f"test:{uuid.uuid4().hex}"
    api, worker = (
        RedisJobNotifier(REDIS_URL, channel=channel),
        RedisJobNotifier(REDIS_URL, channel=channel),
    )
    client = redis.Redis.from_url(REDIS_URL)

    def progress_listeners() -> int:
        return int(client.pubsub_numsub(f"{channel}:progress")[0][1])

    async def heard(subscription, publish) -> None:  # type: ignore[no-untyped-def]
        # Redis subscriptions are asynchronous: publish until the listener hears one
        for _ in range(100):
            publish()
            if await subscription.wait(0.1):
                while await subscription.wait(0.2):  # drain what the retries left behind
                    pass
                return
        raise AssertionError("the listener heard nothing")

    api.start()
    try:
        with api.subscribe("job-1", progress=False) as settling:
            await heard(settling, lambda: worker.notify("job-1"))
            # the listener has turned since this subscription began: it did not follow
            assert progress_listeners() == 0
            with api.subscribe("job-1") as following:
                await heard(following, lambda: worker.notify("job-1", still_open=True))
                assert progress_listeners() == 1
                assert not await settling.wait(0.01)  # its progress woke the follower only
            for _ in range(100):
                if progress_listeners() == 0:
                    break
                await asyncio.sleep(0.05)
            assert progress_listeners() == 0
    finally:
        api.stop()
        worker.stop()
        client.close()


@pytest.mark.redis
async def test_a_notify_in_one_process_wakes_a_waiter_in_another_and_cancels_reach_workers() -> (
    None
):
    channel = f"test:{uuid.uuid4().hex}"
    api, worker = (
        RedisJobNotifier(REDIS_URL, channel=channel),
        RedisJobNotifier(REDIS_URL, channel=channel),
    )
    cancelled = threading.Event()
    heard: list[str] = []
    worker.on_cancel(lambda job_id: (heard.append(job_id), job_id == "job-1" and cancelled.set()))
    api.start()
    worker.start(changes=False)
    try:
        with api.subscribe("job-1") as changed:
            # Redis subscriptions are asynchronous: publish until the listener has heard one
            woken = False
            for _ in range(50):
                worker.notify("job-1")
                await changed.wait(0.2)
                api.cancel("job-1")
                if cancelled.wait(0.1):
                    woken = True
                    break
            assert woken
            while await changed.wait(0.2):  # drain what the retries left behind
                pass
            # once subscribed, only the worker's message can end a wait this long
            # (the outer bound only keeps a broken listener from hanging the suite)
            worker.notify("job-1")
            assert await asyncio.wait_for(changed.wait(3600), timeout=60)

        # a worker hears cancels only: no job change in the cluster wakes its listener.
        # Redis delivers one publisher's messages in order, so once the cancel sent
        # after the change has arrived, the change would have too.
        with worker.subscribe("job-2") as worker_changed:
            api.notify("job-2")
            api.cancel("job-3")
            for _ in range(600):
                if "job-3" in heard:
                    break
                await asyncio.sleep(0.1)
            assert "job-3" in heard
            assert not await worker_changed.wait(0)
    finally:
        api.stop()
        worker.stop()
