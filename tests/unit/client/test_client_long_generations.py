"""Long generations against a scripted server: the derived read timeout,
waiting again (uncounted) while easel says the job runs, and progress reports
from the job events stream."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from easel.client import APITimeoutError, GenerationProgress, RetryPolicy
from easel.client._progress import EventStream, read_timeout_for
from easel.client._requests import text_to_image
from easel.client._types import TextPrompt

EASEL = "http://127.0.0.1:8000"
T2I = "/v1/generation/stable-diffusion-v1-6/text-to-image"
STATUS = "/v1/generations/key-1"
EVENTS = "/v1/generations/key-1/events"
NO_RETRIES = RetryPolicy(max_retries=0)


def job(status: str, progress: float = 0.0, **extra: object) -> dict[str, object]:
    return {"id": "gen-1", "status": status, "progress": progress, **extra}


def sse(*events: dict[str, object]) -> tuple[int, bytes, dict[str, str]]:
    body = "".join(f"event: {e['status']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return 200, body.encode(), {"Content-Type": "text/event-stream"}


def generate(client, **options):
    return client.text_to_image("stable-diffusion-v1-6", "x", idempotency_key="key-1", **options)


def test_a_timed_out_attempt_waits_again_while_easel_says_the_job_runs(server, make_client, clock):
    timeout = httpx.ReadTimeout("timed out")
    server.on("POST", T2I, timeout, timeout, timeout, server.artifacts(7))
    server.on("GET", STATUS, job("queued"), job("running", 0.2), job("running", 0.9))
    client = make_client(host=EASEL, retry=NO_RETRIES)

    assert generate(client).artifacts[0].seed == 7

    assert server.paths() == [f"POST {T2I}", f"GET {STATUS}"] * 3 + [f"POST {T2I}"]
    posts = [r for r in server.requests if r.method == "POST"]
    assert {r.headers["Idempotency-Key"] for r in posts} == {"key-1"}
    assert clock.sleeps == []  # re-attaching is not a retry: no backoff, no retry budget


@pytest.mark.parametrize(
    "status", [job("cancelled"), job("succeeded"), (404, {"name": "not_found"})]
)
def test_a_timed_out_attempt_is_an_ordinary_retry_unless_the_job_runs(server, make_client, status):
    server.on("POST", T2I, httpx.ReadTimeout("timed out"))
    server.on("GET", STATUS, status)
    client = make_client(host=EASEL, retry=NO_RETRIES)

    with pytest.raises(APITimeoutError):
        generate(client)

    assert server.paths() == [f"POST {T2I}", f"GET {STATUS}"]


def test_stability_gets_no_job_requests(server, make_client):
    server.on("POST", T2I, httpx.ReadTimeout("timed out"), server.artifacts(1))
    reports: list[GenerationProgress] = []
    client = make_client()  # https://api.stability.ai

    generate(client, on_progress=reports.append)

    assert server.paths() == [f"POST {T2I}", f"POST {T2I}"]
    assert reports == []


def test_the_read_timeout_grows_with_the_request_unless_the_caller_set_one(server, make_client):
    server.on("POST", T2I, server.artifacts(1))
    derived = make_client(host=EASEL)
    fixed = make_client(host=EASEL, timeout=12.0)

    generate(derived, steps=150, samples=10, width=1024, height=1024)
    generate(fixed, steps=150, samples=10, width=1024, height=1024)
    generate(derived, steps=10)

    big, fixed_big, small = (r.extensions["timeout"] for r in server.requests)
    assert big["read"] > 3600 and big["connect"] == 10.0
    assert fixed_big["read"] == 12.0
    assert small["read"] == 300.0


def test_read_timeout_for_scales_with_steps_samples_and_pixels():
    def spec(**fields: object):
        return text_to_image("e", [TextPrompt("x", 1.0)], fields)

    one = read_timeout_for(spec(steps=150, samples=1, width=1024, height=1024))
    assert read_timeout_for(spec(steps=150, samples=2, width=1024, height=1024)) > one
    assert read_timeout_for(spec(steps=150, samples=1, width=2048, height=1024)) > one
    assert read_timeout_for(spec(steps=10, samples=1, width=512, height=512)) == 300.0


def test_on_progress_reports_the_job_events(server, make_client):
    reports: list[GenerationProgress] = []
    heard_the_end = threading.Event()

    def on_progress(report: GenerationProgress) -> None:
        reports.append(report)
        if report.done:
            heard_the_end.set()

    def events(request: httpx.Request) -> httpx.Response:
        status, body, headers = sse(
            job("queued", queue_position=2), job("running", 0.5), job("succeeded", 1.0)
        )
        return httpx.Response(status, content=body, headers=headers)

    def post(request: httpx.Request) -> httpx.Response:
        # answer once the client has read the events: once the result is in, it reports
        # no more, and answering when the events were merely sent raced the follower
        heard_the_end.wait(10)
        status, body, headers = server.artifacts(3)
        return httpx.Response(status, json=body, headers=headers)

    server.on("GET", EVENTS, (404, {"name": "not_found"}), events)
    server.on("POST", T2I, post)
    client = make_client(host=EASEL)

    generate(client, steps=20, on_progress=on_progress)

    assert [(r.status, r.step, r.steps, r.queue_position) for r in reports] == [
        ("queued", 0, 20, 2),
        ("running", 10, 20, None),
        ("succeeded", 20, 20, None),
    ]
    assert reports[-1].done and not reports[0].done
    assert {r.generation_id for r in reports} == {"gen-1"}


async def test_async_on_progress_and_waiting_again(server, make_async_client):
    served = threading.Event()

    def events(request: httpx.Request) -> httpx.Response:
        served.set()
        status, body, headers = sse(job("running", 0.25, step=5, steps=20))
        return httpx.Response(status, content=body, headers=headers)

    def post(request: httpx.Request) -> httpx.Response:
        if not served.is_set():
            raise httpx.ReadTimeout("timed out")
        status, body, headers = server.artifacts(4)
        return httpx.Response(status, json=body, headers=headers)

    server.on("GET", EVENTS, events)
    server.on("GET", STATUS, job("running"))
    server.on("POST", T2I, post)
    reports: list[GenerationProgress] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # a real connection yields to other tasks
        return await server.async_handler(request)

    client = make_async_client(handler, host=EASEL, retry=NO_RETRIES)

    result = await client.text_to_image(
        "stable-diffusion-v1-6", "x", idempotency_key="key-1", on_progress=reports.append
    )

    assert result.artifacts[0].seed == 4
    assert [(r.status, r.step, r.steps) for r in reports] == [("running", 5, 20)]


def test_event_stream_reads_multi_line_data_and_skips_other_fields():
    stream = EventStream()
    lines = [": comment", "event: running", 'data: {"a":', "data: 1}", "", "", "data: [1]", ""]

    assert [e for e in map(stream.feed, lines) if e is not None] == [{"a": 1}]
