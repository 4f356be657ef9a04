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

from easel.api.app import EaselApp
from easel.api.services import Services
from easel.billing.prices import generation_cost_milli
from easel.jobs.store import JobStore, NewJob
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


async def test_concurrent_retries_with_a_balance_for_one_image_all_succeed(
    client: httpx.AsyncClient, services: Services, gated: FakeEngine
) -> None:
    """Retries attach to the one job, none gets 402: on SQLite the key is claimed before
    the credits are held; on PostgreSQL a retry that finds them spent looks for the key."""
    cost = generation_cost_milli(
        services.engines.spec(SD), width=512, height=512, steps=BODY["steps"], samples=1
    )
    poor = make_account(services.accounts, services.billing, credits=cost / 1000)
    requests = [post(client, poor, **{"Idempotency-Key": "one-image"}) for _ in range(10)]
    await eventually(gated.started.is_set)
    gated.gate.set()  # type: ignore[union-attr]
    responses = await asyncio.wait_for(asyncio.gather(*requests), 20)
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.json()["artifacts"][0]["base64"] for r in responses}) == 1
    assert len(gated.calls) == 1
    assert services.billing.available_credits(poor.org_id) == 0
    charges = [e for e in services.billing.ledger(poor.org_id) if e.kind == "charge"]
    assert len(charges) == 1


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


def dead_workers_job(services: Services, account: TestAccount, job_id: str) -> JobStore:
    """A running job held by a worker that stopped renewing its lease (it died)."""
    store: JobStore = services.jobs._store
    store.create(
        NewJob(
            job_id=job_id,
            organization_id=account.org_id,
            user_id=account.user_id,
            api_key_id=account.key_id,
            request_id="req-dead",
            idempotency_key=None,
            engine_id=SD,
            kind="text-to-image",
            params_hash="h",
            params={},
            cost_milli=5_000,
            owner="elsewhere:1:dead",
            lease=timedelta(seconds=1),
            retention=timedelta(hours=1),
        )
    )
    assert store.mark_running(job_id, owner="elsewhere:1:dead", lease=timedelta(seconds=1))
    return store


@pytest.mark.usefixtures("fake_engines")
async def test_a_job_whose_lease_expired_is_failed_and_released(
    account: TestAccount, services: Services
) -> None:
    store = dead_workers_job(services, account, "d" * 64)
    assert services.billing.available_credits(account.org_id) == 45
    # still leased: nothing happens, whoever holds it may be alive
    assert services.jobs.recover_expired_leases() == 0
    assert services.jobs.recover_expired_leases(datetime.now(UTC) + timedelta(seconds=2)) == 1
    view = store.get("d" * 64)
    assert view is not None and view.status == "failed"
    assert view.error_name == "server_error"
    assert services.billing.available_credits(account.org_id) == 50
    assert services.jobs.recover_expired_leases(datetime.now(UTC) + timedelta(seconds=3)) == 0


@pytest.mark.usefixtures("fake_engines")
async def test_a_worker_that_lost_its_lease_cannot_write_or_charge(
    account: TestAccount, services: Services
) -> None:
    store = dead_workers_job(services, account, "e" * 64)
    assert services.jobs.recover_expired_leases(datetime.now(UTC) + timedelta(seconds=2)) == 1
    # the old worker comes back and finishes: nothing it writes lands
    owner = "elsewhere:1:dead"
    store.set_progress("e" * 64, 0.9, owner=owner)
    assert not store.succeed("e" * 64, [], note="late", owner=owner)
    assert not store.fail("e" * 64, status=500, name="x", message="late", owner=owner)
    assert store.renew_leases(owner, timedelta(seconds=30)) == 0
    view = store.get("e" * 64)
    assert view is not None and view.status == "failed" and view.progress == 0
    assert view.credits_charged_milli == 0
    assert services.billing.available_credits(account.org_id) == 50
    # and another worker's lease is not its to take: running jobs are not re-marked
    assert not store.mark_running("e" * 64, owner="other", lease=timedelta(seconds=30))


async def disconnecting_call(
    app: EaselApp, account: TestAccount, gated: FakeEngine, headers: list[tuple[bytes, bytes]]
) -> None:
    """A raw ASGI call whose client goes away while its job runs."""
    pending = [{"type": "http.request", "body": json.dumps(BODY).encode(), "more_body": False}]
    gone = asyncio.Event()
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        if pending:
            return pending.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

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
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("easel.test", 80),
    }
    call = asyncio.create_task(app(scope, receive, send))
    await eventually(gated.started.is_set)
    gone.set()
    await asyncio.wait_for(call, 10)
    assert statuses == [499]  # logged as the client's doing, not a server error


async def test_client_disconnect_cancels_its_sync_job(
    app: EaselApp, account: TestAccount, gated: FakeEngine, services: Services
) -> None:
    await disconnecting_call(app, account, gated, headers=[])
    gated.gate.set()  # type: ignore[union-attr]  # the engine reaches its next step

    def status() -> str | None:
        jobs = services.jobs._store.recent_for_key(account.key_id)
        return jobs[0].status if jobs else None

    await eventually(lambda: status() == "cancelled")
    assert services.billing.available_credits(account.org_id) == 50


async def test_a_disconnect_with_an_idempotency_key_keeps_the_job_for_the_retry(
    app: EaselApp,
    client: httpx.AsyncClient,
    account: TestAccount,
    gated: FakeEngine,
    services: Services,
) -> None:
    """An SDK whose read timed out retries with the same key: it gets the finished image."""
    await disconnecting_call(app, account, gated, headers=[(b"idempotency-key", b"long-one")])
    retry = post(client, account, **{"Idempotency-Key": "long-one"})
    await asyncio.sleep(0.1)
    gated.gate.set()  # type: ignore[union-attr]
    response = await retry
    assert response.status_code == 200
    assert len(response.json()["artifacts"]) == 1
    job = services.jobs._store.find_for_key(account.key_id, "long-one")
    assert job is not None and job.status == "succeeded"
    assert job.credits_charged_milli > 0
    assert len(gated.calls) == 1
    assert (
        services.billing.available_credits(account.org_id) == 50 - job.credits_charged_milli / 1000
    )


async def test_the_artifacts_of_a_running_job_are_409_not_a_failure(
    client: httpx.AsyncClient, account: TestAccount, gated: FakeEngine
) -> None:
    # found by schemathesis: this was a 500 "The generation failed." while the job ran
    task = post(client, account, **{"Idempotency-Key": "artifacts-early"})
    await eventually(gated.started.is_set)
    job = (await client.get("/v1/generations/artifacts-early", headers=account.headers)).json()
    early = await client.get(f"/v1/generations/{job['id']}/artifacts/0", headers=account.headers)
    assert early.status_code == 409, early.text
    assert early.json()["name"] == "conflict" and "still running" in early.json()["message"]
    gated.gate.set()  # type: ignore[union-attr]
    assert (await task).status_code == 200
    done = await client.get(f"/v1/generations/{job['id']}/artifacts/0", headers=account.headers)
    assert done.status_code == 200 and done.content.startswith(b"\x89PNG")
