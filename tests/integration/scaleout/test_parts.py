"""The S3 artifact store against moto's server, and the broker's priority classes
against a private redis-server and RabbitMQ: the pieces of the deployment a fake
would hide."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from easel.jobs.executors.celery import CeleryOptions, _message_priority, make_celery
from easel.storage.s3 import S3ArtifactStore
from tests.conftest import RABBITMQ_URL
from tests.integration.scaleout.conftest import MotoServer, PrivateRedis


@pytest.fixture(scope="module")
def s3_client(moto_s3: tuple[MotoServer, Any]) -> object:
    client = moto_s3[1]
    client.create_bucket(Bucket="parts")
    return client


def test_s3_store_round_trips_opens_in_chunks_and_deletes_by_prefix(s3_client: object) -> None:
    store = S3ArtifactStore(bucket="parts", prefix="prod/", client=s3_client)
    big = bytes(range(256)) * 1024  # 256 KiB: several chunks
    store.put("jobs/j1/out/0.png", big)
    store.put("jobs/j1/in/image.png", b"in")
    store.put("jobs/j10/out/0.png", b"other job")
    assert store.get("jobs/j1/out/0.png") == big
    opened = store.open("jobs/j1/out/0.png", chunk_size=64 * 1024)
    assert opened.size == len(big)
    chunks = list(opened.chunks)
    assert [len(c) for c in chunks] == [64 * 1024] * 4 and b"".join(chunks) == big
    with pytest.raises(KeyError):  # at open, before any chunk
        store.open("jobs/j1/out/missing.png")
    store.delete_prefix("jobs/j1")
    with pytest.raises(KeyError):
        store.get("jobs/j1/out/0.png")
    with pytest.raises(KeyError):
        store.get("jobs/j1/in/image.png")
    assert store.get("jobs/j10/out/0.png") == b"other job"  # a sibling prefix survives
    with pytest.raises(ValueError):
        store.put("jobs/../escape", b"x")


def test_s3_store_installs_an_expiry_rule(s3_client: object) -> None:
    store = S3ArtifactStore(bucket="parts", prefix="prod/", client=s3_client)
    store.ensure_lifecycle(2)
    rules = s3_client.get_bucket_lifecycle_configuration(Bucket="parts")["Rules"]  # type: ignore[attr-defined]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules] == [("prod/", 2)]


@pytest.fixture(params=["redis", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A private redis-server, or the RabbitMQ broker (each test's queue is its own)."""
    if request.param == "rabbitmq":
        yield RABBITMQ_URL
        return
    broker = PrivateRedis(tmp_path)
    broker.start()
    yield broker.url
    broker.stop()


def test_the_broker_serves_a_lone_request_before_another_organizations_backlog(
    broker_url: str,
) -> None:
    options = CeleryOptions(
        broker_url=broker_url,
        queue=f"fair-{uuid.uuid4().hex[:12]}",
        visibility_timeout_seconds=60,
    )
    app = make_celery(options)
    for job_id, klass in (("backlog-1", 3), ("backlog-2", 3), ("backlog-3", 2), ("lone", 0)):
        app.send_task(
            "easel.run_job",
            args=(job_id, "k"),
            queue=options.queue,
            priority=_message_priority(options.broker_url, klass),
        )
    with app.connection_for_read() as conn:
        # the queue as declared (RabbitMQ refuses a redeclaration without x-max-priority)
        queue = conn.SimpleQueue(app.amqp.queues[options.queue])
        order = []
        try:
            for _ in range(4):
                message = queue.get(timeout=5)
                order.append(message.headers["argsrepr"])
                message.ack()
        finally:
            queue.close()
            app.amqp.queues[options.queue].bind(conn.default_channel).delete()
    assert order == [
        "('lone', 'k')",
        "('backlog-3', 'k')",
        "('backlog-1', 'k')",
        "('backlog-2', 'k')",
    ]
