"""Two API processes and two workers on the celery executor, PostgreSQL, Redis and S3.

Every check reads the outcome from the database (the source of truth): jobs
complete once, are charged once, and the ledger sums to the balance. The 40
jobs are v1 upscales on `esrgan-v1-x2plus` (a Lanczos resize in the sandbox:
no model, next to no CPU); the jobs that must still be running when a test
cancels or kills something are tiny-model text-to-image runs with many steps.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from PIL import Image
from sqlalchemy import create_engine, text

from tests.integration.scaleout.conftest import LEASE_SECONDS, Cluster, wait_until

UPSCALER = "esrgan-v1-x2plus"
DIFFUSION = "stable-diffusion-v1-6"
LONG = {"height": 320, "width": 320, "steps": 40}


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (seed * 7 % 256, 90, 160)).save(out, "PNG")
    return out.getvalue()


def upscale(url: str, key: str, seed: int, *, idem: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/generation/{UPSCALER}/image-to-image/upscale",
        files={"image": ("in.png", _png(seed), "image/png")},
        headers={"Authorization": f"Bearer {key}", "Accept": "image/png", "Idempotency-Key": idem},
        timeout=120,
    )


def long_job(url: str, key: str, *, idem: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/generation/{DIFFUSION}/text-to-image",
        json={"text_prompts": [{"text": "a lighthouse"}], "seed": 3, **LONG},
        headers={"Authorization": f"Bearer {key}", "Accept": "image/png", "Idempotency-Key": idem},
        timeout=180,
    )


def in_background(call) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Run `call` on a thread; its response (or the httpx error) lands under "response"."""
    answer: dict[str, object] = {}

    def run() -> None:
        try:
            answer["response"] = call()
        except httpx.HTTPError as exc:  # e.g. the API process was killed under it
            answer["response"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    answer["thread"] = thread
    return answer


def join(answer: dict[str, object], timeout: float) -> httpx.Response | httpx.HTTPError:
    thread = answer["thread"]
    assert isinstance(thread, threading.Thread)
    thread.join(timeout)
    assert not thread.is_alive()
    response = answer["response"]
    assert isinstance(response, httpx.Response | httpx.HTTPError)
    return response


def query(cluster: Cluster, sql: str, **params: object) -> list[dict[str, object]]:
    engine = create_engine(cluster.db_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def job(cluster: Cluster, idem: str) -> dict[str, object] | None:
    rows = query(cluster, "SELECT * FROM jobs WHERE idempotency_key = :k", k=idem)
    return rows[0] if rows else None


def assert_ledgers_balance(cluster: Cluster) -> None:
    for row in query(
        cluster,
        "SELECT o.balance_milli AS balance, COALESCE(SUM(l.delta_milli), 0) AS ledger, "
        "o.held_milli AS held FROM organizations o "
        "LEFT JOIN credit_ledger l ON l.organization_id = o.id GROUP BY o.id",
    ):
        assert row["balance"] == row["ledger"]


def assert_settled_once(cluster: Cluster, row: dict[str, object] | None) -> None:
    """Succeeded and charged its price, or failed/cancelled and charged nothing."""
    assert row is not None
    if row["status"] == "succeeded":
        assert row["credits_charged_milli"] == row["credits_reserved_milli"] > 0
    else:
        assert row["status"] in ("failed", "cancelled")
        assert row["credits_charged_milli"] == 0
    reservation = query(
        cluster,
        "SELECT status FROM credit_reservations WHERE id = :id",
        id=row["reservation_id"],
    )
    assert [r["status"] for r in reservation] == (
        ["committed"] if row["status"] == "succeeded" else ["released"]
    )


def test_forty_jobs_from_four_organizations_through_two_apis(cluster: Cluster) -> None:
    a, b = cluster.apis[:2]
    requests = [
        (cluster.apis[i % 2], account, n * 10 + i, f"job-{n}-{i}")
        for n, account in enumerate(cluster.accounts)
        for i in range(10)
    ]
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda r: upscale(r[0].url, r[1].secret, r[2], idem=r[3]), requests)
        )
    assert [r.status_code for r in answers] == [200] * 40, [
        r.text for r in answers if r.status_code != 200
    ]
    rows = [job(cluster, r[3]) for r in requests]
    for row in rows:
        assert row is not None and row["status"] == "succeeded"
        assert_settled_once(cluster, row)
    # both workers ran jobs (the owner is host:pid:boot)
    assert {int(str(r["owner"]).split(":")[1]) for r in rows if r} == cluster.worker_pids()

    # readable through the other API: the same key answers the same bytes, charged once
    for (api, account, seed, idem), first in zip(requests, answers, strict=True):
        other = b if api is a else a
        again = upscale(other.url, account.secret, seed, idem=idem)
        assert again.status_code == 200
        assert again.content == first.content
    assert [job(cluster, r[3]) for r in requests] == rows
    assert_ledgers_balance(cluster)


def test_a_cancel_sent_to_one_api_stops_a_job_taken_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.apis[:2]
    account = cluster.accounts[0]
    answer = in_background(lambda: long_job(b.url, account.secret, idem="cancel-me"))
    wait_until(
        lambda: (
            (row := job(cluster, "cancel-me"))
            and row["status"] == "running"
            and row["progress"] > 0
        ),
        90,
        "the job to run",
    )
    cancelled = httpx.delete(
        f"{a.url}/v1/generation/cancel-me", headers=account.headers, timeout=30
    )
    assert cancelled.status_code == 200
    response = join(answer, 60)
    assert (
        isinstance(response, httpx.Response) and response.status_code == 409
    )  # the sync caller on B hears it at once
    row = job(cluster, "cancel-me")
    assert row is not None and row["status"] == "cancelled" and row["progress"] < 1
    assert_settled_once(cluster, row)
    assert_ledgers_balance(cluster)


def test_a_worker_killed_mid_job_never_loses_or_double_charges_it(cluster: Cluster) -> None:
    api = cluster.apis[0]
    account = cluster.accounts[1]
    answer = in_background(lambda: long_job(api.url, account.secret, idem="kill-worker"))
    row = wait_until(
        lambda: (r := job(cluster, "kill-worker")) and r["status"] == "running" and r,
        90,
        "the job to run",
    )
    os.kill(int(str(row["owner"]).split(":")[1]), signal.SIGKILL)
    response = join(answer, LEASE_SECONDS * 10 + 30)
    # the lease ran out: failed and refunded, and the caller is told
    assert isinstance(response, httpx.Response) and response.status_code == 500
    assert_settled_once(cluster, job(cluster, "kill-worker"))
    assert_ledgers_balance(cluster)
    cluster.start_worker()  # the redelivered message finds the job settled and is skipped
    assert upscale(api.url, account.secret, 1, idem="after-kill").status_code == 200


def test_jobs_queued_by_an_api_process_that_dies_still_complete(cluster: Cluster) -> None:
    doomed = cluster.start_api()
    account = cluster.accounts[2]
    # async path: the v1 sync route would cancel a job whose client disconnects, so ask for
    # a queue behind a long job and kill the API once every job is stored
    blocker = in_background(lambda: long_job(cluster.apis[0].url, account.secret, idem="blocker"))
    answers = [
        in_background(lambda i=i: upscale(doomed.url, account.secret, i, idem=f"orphan-{i}"))
        for i in range(4)
    ]
    wait_until(
        lambda: all(job(cluster, f"orphan-{i}") for i in range(4)), 60, "the jobs to be stored"
    )
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait()
    for i in range(4):
        row = wait_until(
            lambda i=i: (r := job(cluster, f"orphan-{i}")) and r["status"] != "queued" and r,
            90,
            "the orphaned job to settle",
        )
        assert row["status"] in ("running", "succeeded")
    for answer in [blocker, *answers]:
        join(answer, 120)
    for i in range(4):
        row = wait_until(
            lambda i=i: (r := job(cluster, f"orphan-{i}")) and r["status"] != "running" and r,
            60,
            "the orphaned job to finish",
        )
        assert row["status"] == "succeeded"
        assert_settled_once(cluster, row)
    assert_ledgers_balance(cluster)


def test_the_api_answers_503_while_the_broker_is_down_and_recovers(cluster: Cluster) -> None:
    api = cluster.apis[0]
    account = cluster.accounts[3]
    cluster.redis.stop()
    down = upscale(api.url, account.secret, 1, idem="broker-down")
    assert down.status_code == 503
    assert int(down.headers["Retry-After"]) >= 1
    assert down.json()["name"] == "broker_unavailable"
    cluster.redis.start()
    up = wait_until(
        lambda: (
            (
                r := upscale(api.url, account.secret, 2, idem=f"broker-up-{os.urandom(4).hex()}")
            ).status_code
            == 200
            and r
        ),
        60,
        "the API to recover",
        interval=0.5,
    )
    assert up.headers["content-type"] == "image/png"
    assert_ledgers_balance(cluster)
