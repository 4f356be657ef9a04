"""Results kept in S3 (moto's server) are streamed to the client, never read whole.

An app in this process stores its artifacts in moto's bucket and runs one v1
upscale (the sandbox's Lanczos resize: no model). Its output is then replaced
by a 1 MiB blob, and each route that answers raw result bytes is called as
plain ASGI, so every `http.response.body` message the app sends is seen.
Meanwhile every read of an S3 body is recorded: all are bounded by the
store's chunk size (a read without a size would pull the whole object).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from botocore.response import StreamingBody
from PIL import Image

from easel.api.app import EaselApp, create_app
from easel.storage.base import CHUNK_SIZE
from tests.asgi import call, messages_then
from tests.factories import TestAccount, make_account, make_settings
from tests.integration.scaleout.conftest import MotoServer

BUCKET = "results"
BIG = os.urandom(3 * CHUNK_SIZE + 7)  # 4 chunks, the last one short
IDEM = "big-output"


@pytest.fixture
async def app(
    tmp_path: Path,
    migrated_db_url: str,
    moto_s3: tuple[MotoServer, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[EaselApp]:
    server, client = moto_s3
    client.create_bucket(Bucket=BUCKET)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    settings = make_settings(
        tmp_path / "data",
        migrated_db_url,
        database={"migrate_on_start": False},
        storage={"backend": "s3", "s3_bucket": BUCKET, "s3_endpoint_url": server.url},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def big_result(app: EaselApp) -> tuple[TestAccount, str]:
    """An account and its finished job, whose output in the bucket is now BIG."""
    services = app.state.services
    account = make_account(services.accounts, services.billing)
    image = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 90, 40)).save(image, "PNG")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://easel.test") as client:
        done = await client.post(
            "/v1/generation/esrgan-v1-x2plus/image-to-image/upscale",
            files={"image": ("in.png", image.getvalue(), "image/png")},
            headers={**account.headers, "Accept": "image/png", "Idempotency-Key": IDEM},
        )
    assert done.status_code == 200, done.text
    view = await services.jobs.get(account.key_id, IDEM)
    await anyio.to_thread.run_sync(services.jobs.artifacts.put, view.artifacts[0].key, BIG)
    return account, view.id


@pytest.fixture
def s3_reads(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The size asked of every read of an S3 object's body (None: the whole rest)."""
    reads: list[int | None] = []
    read = StreamingBody.read

    def recording_read(self: StreamingBody, amt: int | None = None) -> bytes:
        reads.append(amt)
        return read(self, amt)

    monkeypatch.setattr(StreamingBody, "read", recording_read)
    return reads


async def asgi_get(
    app: EaselApp, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], list[bytes]]:
    """GET `path` as a server would: (status, headers, the body of each message sent)."""
    request = {"type": "http.request", "body": b"", "more_body": False}
    sent = await call(app, path, headers, messages_then(request, then="silence"), method="GET")
    start = sent[0]
    assert start["type"] == "http.response.start"
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    bodies = [m["body"] for m in sent[1:] if m["type"] == "http.response.body"]
    return start["status"], response_headers, bodies


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        (f"/v1/generations/{IDEM}/artifacts/0", "image/png"),
        ("/v2beta/results/{id}", "image/*"),
    ],
)
async def test_a_large_result_in_s3_is_streamed_in_bounded_chunks(
    app: EaselApp,
    big_result: tuple[TestAccount, str],
    s3_reads: list[int | None],
    path: str,
    accept: str,
) -> None:
    account, job_id = big_result
    status, headers, bodies = await asgi_get(
        app, path.format(id=job_id), {**account.headers, "Accept": accept}
    )
    assert status == 200
    assert b"".join(bodies) == BIG
    assert headers["content-length"] == str(len(BIG))
    assert "transfer-encoding" not in headers
    # the bytes left the app as they were read, never as one body
    assert len([b for b in bodies if b]) == -(-len(BIG) // CHUNK_SIZE)
    assert max(len(b) for b in bodies) <= CHUNK_SIZE
    # ...and every read from S3 asked for one chunk at a time
    assert s3_reads and all(amt is not None and amt <= CHUNK_SIZE for amt in s3_reads)


async def test_a_json_result_still_carries_the_whole_output(
    app: EaselApp, big_result: tuple[TestAccount, str]
) -> None:
    account, job_id = big_result
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://easel.test") as client:
        answer = await client.get(
            f"/v2beta/results/{job_id}", headers={**account.headers, "Accept": "application/json"}
        )
    assert answer.status_code == 200
    assert base64.b64decode(answer.json()["image"]) == BIG
