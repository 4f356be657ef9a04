"""A scale-out deployment on 127.0.0.1: PostgreSQL, a private Redis, moto's S3 server,
two `easel serve` API processes and two `easel worker` processes (celery executor).

Redis is a private `redis-server` on a free port (no persistence), so a test may stop
and restart it without touching the Redis other tests share. The PostgreSQL database
is a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from easel.db import migrate
from easel.wiring import build_ledger
from tests.conftest import REDIS_URL, _postgres_schema
from tests.factories import TestAccount, make_account
from tests.integration.conftest import (
    MODELS_DIR_ENV,
    RunningServer,
    free_port,
    start_server,
    stop_server,
)
from tests.processes import die_with_parent

BUCKET = "easel-test"
LEASE_SECONDS = 5


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class PrivateRedis:
    """A throwaway redis-server on a free loopback port, restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
            ],
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, 10, "redis-server to answer")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class MotoServer:
    """moto's S3 server in a subprocess on a free loopback port."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with log.open("w") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=handle,
                preexec_fn=die_with_parent,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            try:
                return httpx.get(self.url, timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "moto server to answer", interval=0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_worker(
    module: list[str], env: dict[str, str], log_path: Path, *, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """`python -m <module…>` (a celery worker); returns once it consumes its queue."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *module],
            stdout=log,
            preexec_fn=die_with_parent,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            text=True,
        )
    wait_until(
        lambda: process.poll() is not None or " ready." in log_path.read_text(),
        60,
        "the worker to connect",
    )
    assert process.poll() is None, log_path.read_text()
    return process


def stop_worker(process: subprocess.Popen[str]) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL if it does not end."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServer, Any]]:
    """moto's S3 server and a boto3 client on it, with the dummy credentials moto takes."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    client = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield server, client
    server.stop()


@dataclass
class Cluster:
    env: dict[str, str]
    db_url: str
    redis: PrivateRedis
    s3: MotoServer
    apis: list[RunningServer]
    accounts: list[TestAccount]
    root: Path
    workers: list[subprocess.Popen[str]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[str]:
        process = start_worker(
            ["easel.cli.main", "worker"],
            # workers load their model before they take jobs
            {**self.env, "EASEL_ENGINE__PRELOAD": '["stable-diffusion-v1-6"]'},
            self.root / f"worker-{len(self.workers)}.log",
        )
        self.workers.append(process)
        return process

    def start_api(self) -> RunningServer:
        data = self.root / f"api-{len(self.apis)}"
        server = start_server(data, env=self.env)
        self.apis.append(server)
        return server

    def worker_pids(self) -> set[int]:
        return {w.pid for w in self.workers if w.poll() is None}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scaleout")
    redis_server = PrivateRedis(root)
    redis_server.start()
    s3 = MotoServer(root / "moto.log")
    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    boto3.client(
        "s3",
        endpoint_url=s3.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    with _postgres_schema() as db_url:
        migrate.upgrade(db_url)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EASEL_")},
            **aws,
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "EASEL_ENGINE__MODELS_DIR": os.environ[MODELS_DIR_ENV],
            "EASEL_DATABASE__URL": db_url,
            "EASEL_SERVER__BOOTSTRAP": "false",
            "EASEL_JOBS__EXECUTOR": "celery",
            "EASEL_JOBS__LEASE_SECONDS": str(LEASE_SECONDS),
            "EASEL_CELERY__BROKER_URL": redis_server.url,
            "EASEL_CELERY__REDIS_URL": redis_server.url,
            "EASEL_RATE_LIMIT__BACKEND": "redis",
            # the shared Redis: the broker test stops the private one to see the broker's
            # own 503 (the limiter's 503 and recovery: test_redis_outage.py)
            "EASEL_RATE_LIMIT__REDIS_URL": REDIS_URL,
            "EASEL_STORAGE__BACKEND": "s3",
            "EASEL_STORAGE__S3_BUCKET": BUCKET,
            "EASEL_STORAGE__S3_ENDPOINT_URL": s3.url,
        }
        from easel.config import Settings

        ledger = build_ledger(Settings(database={"url": db_url}, jobs={"executor": "celery"}))
        accounts = [
            make_account(ledger.accounts, ledger.billing, credits=500, org_name=f"org {i}")
            for i in range(4)
        ]
        ledger.db.dispose()
        cluster = Cluster(env, db_url, redis_server, s3, [], accounts, root)
        try:
            cluster.start_worker()
            cluster.start_worker()
            cluster.start_api()
            cluster.start_api()
            yield cluster
        finally:
            for api in cluster.apis:
                if api.process.poll() is None:
                    stop_server(api)
            for worker in cluster.workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in cluster.workers:
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
            s3.stop()
            redis_server.stop()
