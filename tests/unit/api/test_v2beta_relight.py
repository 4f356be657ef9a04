"""v2beta edit/replace-background-and-relight through the API: asynchronous (200 `{id}`,
then `/v2beta/results/{id}`), its fields, limits, errors and price (reference §3.13, §2).

The relight engine runs for real on stand-in models: a box in the middle of the image is
the subject (`BoxCutout`) and a `FakeEngine` paints noise backgrounds, so the pixels that
come back show what was kept and where the light fell.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from PIL import Image

from easel.api.services import Services
from easel.engines.backends.relight import RelightEngine, painter_spec
from easel.engines.base import GenerationRequest, GenerationResult
from easel.engines.catalog import default_engines
from easel.engines.registry import EngineRegistry
from easel.errors import EngineError
from tests.factories import TestAccount, make_account
from tests.fakes import BoxCutout, FakeEngine, box_alpha
from tests.images import noise_png, png_bytes
from tests.unit.api.test_v2beta import credits, error, image_of, post
from tests.unit.api.test_v2beta_media import finished

PATH = "edit/replace-background-and-relight"
ENGINE_ID = "stable-image-replace-background-and-relight"
SPEC = next(spec for spec in default_engines() if spec.id == ENGINE_ID)
SIZE = (160, 120)
SUBJECT = noise_png(*SIZE, seed=3)
INSIDE = np.asarray(box_alpha(SIZE)) == 255
GREY = png_bytes(Image.new("RGB", SIZE, (128, 128, 128)))


class RecordingRelight(RelightEngine):
    """The real relight engine, remembering what it was asked."""

    def __init__(self) -> None:
        self.fake_painter = FakeEngine(painter_spec(SPEC))
        super().__init__(SPEC, painter=self.fake_painter, segmenter=BoxCutout())
        self.calls: list[list[GenerationRequest]] = []

    def generate(
        self, requests: Sequence[GenerationRequest], **kwargs: Any
    ) -> list[GenerationResult]:
        self.calls.append(list(requests))
        return super().generate(requests, **kwargs)


class RelightEngines:
    """The app's engines: every job here runs on the one recording relight engine."""

    def __init__(self) -> None:
        self.engine = RecordingRelight()
        self.registry: EngineRegistry | None = None

    def get(self, engine_id: str) -> RecordingRelight:
        assert engine_id == ENGINE_ID
        return self.engine


@pytest.fixture
def engine_source() -> RelightEngines:
    return RelightEngines()


@pytest.fixture
def relight(engine_source: RelightEngines) -> RecordingRelight:
    return engine_source.engine


async def submit(
    client: httpx.AsyncClient,
    account: TestAccount | None,
    data: dict[str, str] | None = None,
    files: dict[str, bytes] | None = None,
    **headers: str,
) -> httpx.Response:
    return await post(
        client, PATH, account, data, {"subject_image": SUBJECT} | (files or {}), **headers
    )


async def result(
    client: httpx.AsyncClient, account: TestAccount, response: httpx.Response
) -> httpx.Response:
    assert response.status_code == 200, response.text
    return await finished(client, f"/v2beta/results/{response.json()['id']}", account)


async def polled_until_progress(
    client: httpx.AsyncClient, url: str, account: TestAccount, timeout: float = 10
) -> dict[str, Any]:
    """The running job's 202 body once it shows progress: progress is stored off the
    engine's thread, so it lands a moment after the engine reports it."""
    deadline = anyio.current_time() + timeout
    while True:
        running = await client.get(url, headers=account.headers)
        assert running.status_code == 202, running.text
        body: dict[str, Any] = running.json()
        if body["progress"] > 0 or anyio.current_time() > deadline:
            return body
        await anyio.sleep(0.02)


def pixels(response: httpx.Response) -> np.ndarray:
    return np.asarray(image_of(response).convert("RGB"))


# -- success -----------------------------------------------------------------------------------


async def test_it_answers_an_id_then_the_image_in_both_accept_modes_for_8_credits(
    client: httpx.AsyncClient, services: Services, relight: RecordingRelight
) -> None:
    account = make_account(services.accounts, services.billing, credits=50)
    relight.fake_painter.gate = threading.Event()
    relight.fake_painter.steps_per_call = 4
    submitted = await submit(
        client,
        account,
        {"background_prompt": "a beach at dusk", "output_format": "webp", "seed": "42"},
        accept="image/*",
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.headers["content-type"] == "application/json"
    (job_id,) = submitted.json().values()
    assert len(job_id) == 64

    await anyio.to_thread.run_sync(relight.fake_painter.started.wait, 10)
    url = f"/v2beta/results/{job_id}"
    body = await polled_until_progress(client, url, account)
    assert (body["id"], body["status"]) == (job_id, "in-progress")
    assert 0 < body["progress"] < 1  # the cut-out is done, the painting is not
    other = make_account(services.accounts, services.billing, email="other@example.com")
    error(await client.get(url, headers=other.headers), 404, "generation_not_found")

    relight.fake_painter.gate.set()
    done = await finished(client, url, account)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "image/webp"
    assert (done.headers["finish-reason"], done.headers["seed"]) == ("SUCCESS", "42")
    assert (image_of(done).format, image_of(done).size) == ("WEBP", SIZE)
    assert credits(services, account) == 50 - 8

    as_json = await client.get(url, headers={**account.headers, "Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json; type=image/webp"
    assert "finish-reason" not in as_json.headers
    body = as_json.json()
    assert set(body) == {"image", "finish_reason", "seed"}
    assert (body["finish_reason"], body["seed"]) == ("SUCCESS", 42)
    assert base64.b64decode(body["image"]) == done.content
    assert credits(services, account) == 50 - 8  # fetching is free


async def test_a_json_submit_answers_the_id_too_and_png_is_the_default(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    submitted = await submit(client, account, {"background_prompt": "x"}, accept="application/json")
    done = await result(client, account, submitted)
    assert done.headers["content-type"] == "image/png"
    assert image_of(done).size == SIZE


async def test_the_fields_reach_the_engine(
    client: httpx.AsyncClient, account: TestAccount, relight: RecordingRelight
) -> None:
    fields = {
        "background_prompt": "a forest",
        "foreground_prompt": "a red car",
        "negative_prompt": "fog",
        "preserve_original_subject": "0.25",
        "original_background_depth": "0.75",
        "keep_original_background": "False",  # str(False), as Python clients send it
        "light_source_direction": "above",
        "light_source_strength": "0.9",
        "seed": "7",
    }
    files = {
        "background_reference": noise_png(300, 120, 5),
        "light_reference": noise_png(64, 64, 6),
    }
    await result(client, account, await submit(client, account, fields, files))
    (request,) = relight.calls[0]
    assert (request.kind, request.width, request.height, list(request.seeds)) == (
        "replace-background-and-relight",
        *SIZE,
        [7],
    )
    assert [(p.text, p.weight) for p in request.prompts] == [
        ("a forest, a red car", 1.0),
        ("fog", -1.0),
    ]
    assert request.extras == {
        "preserve_original_subject": 0.25,
        "original_background_depth": 0.75,
        "keep_original_background": False,
        "light_source_direction": "above",
        "light_source_strength": 0.9,
    }
    assert request.init_image is not None and request.init_image.size == SIZE
    assert request.reference_image is not None and request.reference_image.size == (300, 120)
    assert request.light_image is not None and request.light_image.size == (64, 64)
    assert request.steps == SPEC.steps


async def test_stabilitys_defaults_apply(
    client: httpx.AsyncClient, account: TestAccount, relight: RecordingRelight
) -> None:
    reference = {"background_reference": noise_png(64, 64, 5)}
    await result(client, account, await submit(client, account, {}, reference))
    (request,) = relight.calls[0]
    assert request.prompts == [] and request.light_image is None
    # no light: no strength (Stability's 0.3 applies when there is one)
    assert request.extras == {
        "preserve_original_subject": 0.6,
        "original_background_depth": 0.5,
        "keep_original_background": False,
    }
    assert relight.fake_painter.calls == []  # a reference alone is not painted


async def test_the_subject_is_kept_and_the_light_falls_from_its_side(
    client: httpx.AsyncClient, services: Services
) -> None:
    account = make_account(services.accounts, services.billing, credits=50)
    light = {
        "background_prompt": "studio",
        "keep_original_background": "true",
        "light_source_direction": "left",
        "light_source_strength": "1",
    }

    async def lit(preserve: str) -> np.ndarray:
        data = light | {"preserve_original_subject": preserve}
        submitted = await post(client, PATH, account, data, {"subject_image": GREY})
        return pixels(await result(client, account, submitted))

    kept = await lit("1")
    assert np.all(kept[INSIDE] == 128)  # the subject's own pixels
    grey = kept.mean(axis=2)
    assert grey[:, :40].mean() > 128 + 20 > 128 - 20 > grey[:, -40:].mean()

    relit = await lit("0")
    subject = np.where(INSIDE[..., None], relit, 0).astype(float).sum(axis=(0, 2))
    columns = np.flatnonzero(INSIDE.any(axis=0))
    assert subject[columns[0]] > subject[columns[-1]]  # lit from the left, subject too

    # a plain background replacement keeps a preserved subject exactly, over a new background
    replaced = pixels(
        await result(
            client,
            account,
            await submit(
                client, account, {"background_prompt": "x", "preserve_original_subject": "1"}
            ),
        )
    )
    source = np.asarray(Image.open(io.BytesIO(SUBJECT)).convert("RGB"))
    assert np.array_equal(replaced[INSIDE], source[INSIDE])
    assert np.abs(replaced[~INSIDE].astype(int) - source[~INSIDE]).mean() > 30
    assert credits(services, account) == 50 - 3 * 8


# -- errors -------------------------------------------------------------------------------------


INVALID: list[tuple[dict[str, str], dict[str, bytes], str]] = [
    ({"background_prompt": "x"}, {"subject_image": b""}, "subject_image: the file is empty"),
    ({}, {}, "background_prompt, background_reference: one of them is required"),
    (
        {"background_prompt": "x", "light_source_strength": "0.5"},
        {},
        "light_source_strength: requires light_source_direction or light_reference",
    ),
    ({"background_prompt": "x", "light_source_direction": "none"}, {}, "light_source_direction:"),
    ({"background_prompt": "x", "light_source_direction": "Left"}, {}, "light_source_direction:"),
    (
        {"background_prompt": "x", "keep_original_background": "yes"},
        {},
        "keep_original_background:",
    ),
    ({"background_prompt": "x", "output_format": "gif"}, {}, "output_format:"),
    (
        {"background_prompt": "x", "preserve_original_subject": "1.5"},
        {},
        "preserve_original_subject:",
    ),
    (
        {"background_prompt": "x", "original_background_depth": "-0.1"},
        {},
        "original_background_depth:",
    ),
    (
        {"background_prompt": "x", "light_source_direction": "left", "light_source_strength": "2"},
        {},
        "light_source_strength:",
    ),
    ({"background_prompt": "x" * 10_001}, {}, "background_prompt:"),
    ({"background_prompt": "x", "foreground_prompt": "y" * 10_001}, {}, "foreground_prompt:"),
    ({"background_prompt": "x", "seed": "4294967295"}, {}, "seed:"),
    (
        {"background_prompt": "x"},
        {"light_reference": b"not an image"},
        "light_reference: not a recognised",
    ),
]


async def test_invalid_requests_are_400_name_the_field_and_are_free(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    missing = await post(client, PATH, account, {"background_prompt": "x"}, {})
    assert error(missing, 400, "bad_request") == ["subject_image: is required"]
    for data, files, problem in INVALID:
        response = await submit(client, account, data, files)
        assert response.status_code == 400, (data, response.text)
        problems = response.json()["errors"]
        assert any(p.startswith(problem) for p in problems), (data, problems)
    both = await submit(client, account, {"light_source_strength": "0.5"})
    assert len(error(both, 400, "bad_request")) == 2  # each problem its own entry
    assert credits(services, account) == 50


async def test_images_outside_the_limits_are_refused(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    prompt = {"background_prompt": "x"}
    for files, field in (
        ({"subject_image": noise_png(63, 200)}, "subject_image"),  # a side under 64
        ({"subject_image": png_bytes(Image.new("RGB", (3073, 3072)))}, "subject_image"),  # > 9 MP
        ({"subject_image": noise_png(400, 100)}, "subject_image"),  # aspect beyond 2.5:1
        ({"background_reference": noise_png(63, 100)}, "background_reference"),
        ({"light_reference": noise_png(64, 63)}, "light_reference"),  # under 4096 pixels
    ):
        response = await submit(client, account, prompt, files)
        problems = error(response, 400, "invalid_image_dimensions")
        assert problems[0].startswith(f"{field}:"), problems
    assert credits(services, account) == 50
    # only the subject's aspect is limited
    wide = await submit(client, account, {}, {"background_reference": noise_png(400, 100)})
    assert (await result(client, account, wide)).status_code == 200


async def test_validation_comes_before_authentication(client: httpx.AsyncClient) -> None:
    bogus = "Bearer sk-not-a-key"
    error(await submit(client, None, {}, Authorization=bogus), 400, "bad_request")
    prompt = {"background_prompt": "x"}
    error(await submit(client, None, prompt, Authorization=bogus), 401, "unauthorized")


async def test_the_platforms_errors_apply(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    forbidden = await submit(
        client, account, {"background_prompt": "x"}, Organization="org-not-mine"
    )
    error(forbidden, 403, "permission_denied")
    huge = await post(
        client,
        PATH,
        account,
        {"background_prompt": "x"},
        {"subject_image": b"0" * (10 * 2**20 + 1)},
    )
    error(huge, 413, "payload_too_large")
    poor = make_account(services.accounts, services.billing, credits=7, email="poor@example.com")
    error(await submit(client, poor, {"background_prompt": "x"}), 402, "insufficient_balance")
    assert credits(services, poor) == 7


@pytest.mark.parametrize("settings_overrides", [{"safety": {"blocked_terms": ["forbidden"]}}])
async def test_filtered_prompts_are_422_and_free(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    for field in ("background_prompt", "foreground_prompt", "negative_prompt"):
        data = {"background_prompt": "a beach", field: "a Forbidden thing"}
        response = await submit(client, account, data)
        assert error(response, 422, "invalid_prompts") == [f"{field}: contains filtered words"]
    assert credits(services, account) == 50


@pytest.mark.parametrize(
    "settings_overrides", [{"rate_limit": {"requests": 1, "window_seconds": 10}}]
)
async def test_the_rate_limit_applies(client: httpx.AsyncClient, account: TestAccount) -> None:
    assert (await submit(client, account, {"background_prompt": "x"})).status_code == 200
    error(await submit(client, account, {"background_prompt": "x"}), 429, "rate_limit_exceeded")


async def test_a_failed_relight_is_500_at_its_result_and_free(
    client: httpx.AsyncClient, account: TestAccount, services: Services, relight: RecordingRelight
) -> None:
    relight.fake_painter.fail_with = EngineError("the fake engine failed")
    failed = await result(
        client, account, await submit(client, account, {"background_prompt": "x"})
    )
    error(failed, 500, "server_error")
    assert credits(services, account) == 50


async def test_cancelling_mid_run_charges_nothing(
    client: httpx.AsyncClient, account: TestAccount, services: Services, relight: RecordingRelight
) -> None:
    painter = relight.fake_painter
    painter.gate, painter.steps_per_call = threading.Event(), 4
    submitted = await submit(client, account, {"background_prompt": "x"})
    job_id = submitted.json()["id"]
    await anyio.to_thread.run_sync(painter.started.wait, 10)
    cancelled = await client.delete(f"/v1/generation/{job_id}", headers=account.headers)
    assert cancelled.status_code == 200, cancelled.text
    painter.gate.set()
    done = await finished(client, f"/v2beta/results/{job_id}", account)
    error(done, 409, "cancelled")
    job = await client.get(f"/v1/generations/{job_id}", headers=account.headers)
    assert (job.json()["status"], job.json()["credits_charged"]) == ("cancelled", 0)
    assert credits(services, account) == 50
