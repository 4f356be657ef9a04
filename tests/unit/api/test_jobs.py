"""Jobs through the API: status, progress, cancel, idempotency, batching, retention,
recovery. Engines are fakes that can be held at a step."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from easel.api.services import Services
from easel.jobs.store import JobStore
from tests.factories import TestAccount, make_account
from tests.fakes import FakeEngine

SD = "stable-diffusion-v1-6"
BODY = {"text_prompts": [{"text": "a lighthouse"}], "steps": 10, "seed": 5}


@pytest.fixture
def gated(services: Services, fake_engines: dict[str, FakeEngine]) -> FakeEngine:
    """The SD engine, held at every step until the test sets `gate`."""
    engine = FakeEngine(services.engines.spec(SD))
    engine.gate = threading.Event()
    fake_engines[SD] = engine
    return engine


async def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def generations(client: httpx.AsyncClient, account: TestAccount) -> list[dict[str, object]]:
    response = await client.get("/v1/generations", headers=account.headers)
    assert response.status_code == 200
    result: list[dict[str, object]] = response.json()
    return result


def post(
    client: httpx.AsyncClient, account: TestAccount, **headers: str
) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(
        client.post(
            f"/v1/generation/{SD}/text-to-image",
            headers={**account.headers, **headers},
            json=BODY,
        )
    )


@pytest.mark.usefixtures("fake_engines")
async def test_every_generation_is_a_job_with_status(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image", headers=account.headers, json=BODY
    )
    job_id = response.headers["x-generation-id"]
    assert len(job_id) == 64
    status = (await client.get(f"/v1/generations/{job_id}", headers=account.headers)).json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    assert status["credits_charged"] == status["credits_reserved"] > 0
    assert status["started_at"] and status["finished_at"] and status["artifacts"] == 1
    assert [g["id"] for g in await generations(client, account)] == [job_id]


@pytest.mark.usefixtures("fake_engines")
async def test_other_keys_get_404_for_a_job(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image", headers=account.headers, json=BODY
    )
    job_id = response.headers["x-generation-id"]
    stranger = make_account(services.accounts, services.billing, email="s@example.com")
    for request in (
        client.get(f"/v1/generations/{job_id}", headers=stranger.headers),
        client.delete(f"/v1/generation/{job_id}", headers=stranger.headers),
        client.get(f"/v1/generations/{job_id}/events", headers=stranger.headers),
    ):
        answer = await request
        assert answer.status_code == 404
        assert answer.json()["name"] == "generation_not_found"
    assert await generations(client, stranger) == []


async def test_progress_is_stored_and_streamed(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    services.jobs._store  # noqa: B018 - the store is what the API reads
    task = post(client, account, **{"Idempotency-Key": "progress-1"})
    await eventually(gated.started.is_set)
    job = (await client.get("/v1/generations/progress-1", headers=account.headers)).json()
    assert job["status"] == "running"

    events: list[dict[str, object]] = []

    async def read_events() -> None:
        async with client.stream(
            "GET", f"/v1/generations/{job['id']}/events", headers=account.headers
        ) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))

    reader = asyncio.create_task(read_events())
    await asyncio.sleep(0.1)
    gated.gate.set()  # type: ignore[union-attr]
    await asyncio.wait_for(reader, 10)
    assert (await task).status_code == 200
    assert events[0]["status"] == "running"
    assert events[-1]["status"] == "succeeded" and events[-1]["progress"] == 1.0
    progresses = [float(e["progress"]) for e in events]  # type: ignore[arg-type]
    assert progresses == sorted(progresses)


async def test_cancel_a_running_job_stops_it_and_charges_nothing(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    task = post(client, account, **{"Idempotency-Key": "cancel-me"})
    await eventually(gated.started.is_set)
    cancelled = await client.delete("/v1/generation/cancel-me", headers=account.headers)
    assert cancelled.status_code == 200
    gated.gate.set()  # type: ignore[union-attr]  # let the engine reach its next step
    response = await asyncio.wait_for(task, 10)
    assert response.status_code == 409
    assert response.json()["name"] == "cancelled"
    (job,) = await generations(client, account)
    assert job["status"] == "cancelled" and job["credits_charged"] == 0
    assert services.billing.available_credits(account.org_id) == 50
    assert len(gated.calls) == 1


async def test_cancel_a_queued_job(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    first = post(client, account, **{"Idempotency-Key": "first"})
    await eventually(gated.started.is_set)
    second = post(client, account, **{"Idempotency-Key": "second"})
    await eventually(lambda: services.jobs._executor.scheduler.queued == 1)  # type: ignore[attr-defined]
    answer = await client.delete("/v1/generation/second", headers=account.headers)
    assert answer.json()["status"] == "cancelled"
    assert (await asyncio.wait_for(second, 10)).status_code == 409
    gated.gate.set()  # type: ignore[union-attr]
    assert (await asyncio.wait_for(first, 10)).status_code == 200
    assert len(gated.calls) == 1  # the cancelled job never reached the engine


async def test_cancel_of_a_finished_job_leaves_it(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine
) -> None:
    gated.gate.set()  # type: ignore[union-attr]
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image", headers=account.headers, json=BODY
    )
    job_id = response.headers["x-generation-id"]
    answer = await client.delete(f"/v1/generation/{job_id}", headers=account.headers)
    assert answer.status_code == 200 and answer.json()["status"] == "succeeded"


async def test_idempotent_retry_returns_the_first_result_without_a_second_charge(
    client: httpx.AsyncClient,
    account: TestAccount,
    fake_engines: dict[str, FakeEngine],
    services: Services,
) -> None:
    headers = {**account.headers, "Idempotency-Key": "retry-1"}
    body = {**BODY, "seed": 0}  # random seeds: the retry must still match
    first = await client.post(f"/v1/generation/{SD}/text-to-image", headers=headers, json=body)
    second = await client.post(f"/v1/generation/{SD}/text-to-image", headers=headers, json=body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.headers["x-generation-id"] == second.headers["x-generation-id"]
    assert len(fake_engines[SD].calls) == 1
    charges = [e for e in services.billing.ledger(account.org_id) if e.kind == "charge"]
    assert len(charges) == 1

    other = await client.post(
        f"/v1/generation/{SD}/text-to-image", headers=headers, json={**body, "steps": 11}
    )
    assert other.status_code == 409
    assert other.json()["name"] == "idempotency_key_reused"


async def test_concurrent_retry_attaches_to_the_running_job(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine
) -> None:
    first = post(client, account, **{"Idempotency-Key": "same"})
    await eventually(gated.started.is_set)
    second = post(client, account, **{"Idempotency-Key": "same"})
    await asyncio.sleep(0.1)
    gated.gate.set()  # type: ignore[union-attr]
    a, b = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert a.json() == b.json()
    assert len(gated.calls) == 1


@pytest.mark.parametrize("settings_overrides", [{"jobs": {"max_batch_size": 4}}])
async def test_compatible_queued_jobs_run_as_one_batch(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    blocker = post(client, account, **{"Idempotency-Key": "blocker"})
    await eventually(gated.started.is_set)
    other = make_account(services.accounts, services.billing, email="o@example.com")
    waiting = [post(client, other, **{"Idempotency-Key": f"b{i}"}) for i in range(3)]
    await eventually(lambda: services.jobs._executor.scheduler.queued == 3)  # type: ignore[attr-defined]
    gated.gate.set()  # type: ignore[union-attr]
    responses = await asyncio.wait_for(asyncio.gather(blocker, *waiting), 10)
    assert {r.status_code for r in responses} == {200}
    # org-b may run two jobs at once: two share one call, the third runs after them
    assert [len(call) for call in gated.calls] == [1, 2, 1]
    seeds = {a["seed"] for r in responses[1:] for a in r.json()["artifacts"]}
    assert seeds == {5}  # each job kept its own (here equal) seed


@pytest.mark.parametrize(
    "settings_overrides", [{"jobs": {"max_queued": 1, "max_running_per_org": 1}}]
)
async def test_full_queue_is_503_with_retry_after(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    running = post(client, account, **{"Idempotency-Key": "r"})
    await eventually(gated.started.is_set)
    queued = post(client, account, **{"Idempotency-Key": "q"})
    await eventually(lambda: services.jobs._executor.scheduler.queued == 1)  # type: ignore[attr-defined]
    refused = await client.post(
        f"/v1/generation/{SD}/text-to-image", headers=account.headers, json=BODY
    )
    assert refused.status_code == 503
    assert refused.json()["name"] == "server_overloaded"
    assert int(refused.headers["retry-after"]) > 0
    gated.gate.set()  # type: ignore[union-attr]
    await asyncio.wait_for(asyncio.gather(running, queued), 10)
    charges = [e for e in services.billing.ledger(account.org_id) if e.kind == "charge"]
    assert len(charges) == 2  # the refused request was not charged


@pytest.mark.usefixtures("fake_engines")
async def test_retention_sweep_deletes_results(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image", headers=account.headers, json=BODY
    )
    job_id = response.headers["x-generation-id"]
    assert services.jobs.sweep_expired(datetime.now(UTC) + timedelta(hours=23)) == 0
    assert services.jobs.sweep_expired(datetime.now(UTC) + timedelta(hours=25)) == 1
    answer = await client.get(f"/v1/generations/{job_id}", headers=account.headers)
    assert answer.status_code == 404
    artifacts = services.settings.server.data_dir / "artifacts" / "jobs" / job_id
    assert not artifacts.exists()


@pytest.mark.usefixtures("fake_engines")
async def test_orphans_of_a_dead_process_are_failed_and_released(
    account: TestAccount, services: Services
) -> None:
    import socket

    store: JobStore = services.jobs._store
    reservation = services.billing.reserve(account.org_id, 5_000, request_id="req-dead")
    store.create(
        job_id="d" * 64,
        organization_id=account.org_id,
        user_id=account.user_id,
        api_key_id=account.key_id,
        request_id="req-dead",
        idempotency_key=None,
        engine_id=SD,
        kind="text-to-image",
        params_hash="h",
        params={},
        reservation_id=reservation.id,
        credits_reserved_milli=5_000,
        owner=f"{socket.gethostname()}:999999:deadbeef",  # no such pid
        retention=timedelta(hours=1),
    )
    assert store.mark_running("d" * 64)
    assert services.billing.available_credits(account.org_id) == 45
    assert services.jobs.recover_orphans() == 1
    view = store.get("d" * 64)
    assert view is not None and view.status == "failed"
    assert services.billing.available_credits(account.org_id) == 50
    assert services.jobs.recover_orphans() == 0


async def test_client_disconnect_cancels_its_sync_job(
    app: FastAPI, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    """A raw ASGI call whose client goes away while the job runs."""
    pending = [{"type": "http.request", "body": json.dumps(BODY).encode(), "more_body": False}]
    gone = asyncio.Event()

    async def receive() -> dict[str, object]:
        if pending:
            return pending.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(_message: object) -> None:
        return None

    path = f"/v1/generation/{SD}/text-to-image"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {account.secret}".encode()),
            (b"content-type", b"application/json"),
            (b"idempotency-key", b"leaving"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("easel.test", 80),
    }
    call = asyncio.create_task(app(scope, receive, send))
    await eventually(gated.started.is_set)
    gone.set()
    await asyncio.wait_for(call, 10)
    gated.gate.set()  # type: ignore[union-attr]  # the engine reaches its next step

    def status() -> str | None:
        job = services.jobs._store.find_for_key(account.key_id, "leaving")
        return job.status if job else None

    await eventually(lambda: status() == "cancelled")
    assert services.billing.available_credits(account.org_id) == 50
