"""What the studio's gallery reads: pages of jobs, their stored parameters, their images."""

from __future__ import annotations

import httpx
from PIL import Image

from easel.api.services import Services
from tests.factories import TestAccount, make_account
from tests.images import png_bytes

SD = "stable-diffusion-v1-6"


async def text_to_image(client: httpx.AsyncClient, account: TestAccount, **body: object) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/text-to-image",
        headers=account.headers,
        json={"text_prompts": [{"text": "a fox"}, {"text": "blur", "weight": -1}], **body},
    )
    assert response.status_code == 200, response.text


async def test_pages_are_newest_first_and_do_not_overlap(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    for steps in (10, 11, 12):
        await text_to_image(client, account, steps=steps)
    first = (await client.get("/v1/generations?limit=2", headers=account.headers)).json()
    second = (await client.get("/v1/generations?limit=2&offset=2", headers=account.headers)).json()
    assert [j["parameters"]["steps"] for j in first + second] == [12, 11, 10]
    bad = await client.get("/v1/generations?offset=-1", headers=account.headers)
    assert bad.status_code == 400
    # found by schemathesis: an offset past 64 bits was a 500 from the database
    huge = await client.get(
        "/v1/generations?limit=1655253&offset=65317954490759233536", headers=account.headers
    )
    assert (huge.status_code, huge.json()["name"]) == (400, "bad_request")


async def test_a_job_reads_back_its_parameters_and_resolved_seed(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    await text_to_image(client, account, steps=10, seed=0, style_preset="anime")
    job = (await client.get("/v1/generations", headers=account.headers)).json()[0]
    detail = (await client.get(f"/v1/generations/{job['id']}", headers=account.headers)).json()
    parameters = detail["parameters"]
    assert parameters["operation"] == "text-to-image"
    assert parameters["prompts"] == [
        {"text": "a fox", "weight": 1.0},
        {"text": "blur", "weight": -1.0},
    ]
    assert (parameters["steps"], parameters["style_preset"], parameters["seed"]) == (
        10,
        "anime",
        0,
    )
    assert len(parameters["seeds"]) == 1 and parameters["seeds"][0] > 0
    assert parameters["input_images"] == []


async def test_input_images_are_named_not_exposed(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.post(
        f"/v1/generation/{SD}/image-to-image",
        headers=account.headers,
        files={"init_image": ("init.png", png_bytes(Image.new("RGB", (512, 512))), "image/png")},
        data={"text_prompts[0][text]": "a fox", "steps": "10"},
    )
    assert response.status_code == 200, response.text
    job = (await client.get("/v1/generations", headers=account.headers)).json()[0]
    assert job["parameters"]["input_images"] == ["init_image"]
    assert "init_image" not in job["parameters"]


async def test_an_artifact_is_served_with_its_seed(
    client: httpx.AsyncClient, account: TestAccount, services: Services
) -> None:
    await text_to_image(client, account, steps=10, seed=77)
    job = (await client.get("/v1/generations", headers=account.headers)).json()[0]
    image = await client.get(f"/v1/generations/{job['id']}/artifacts/0", headers=account.headers)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["seed"] == "77"
    assert image.content.startswith(b"\x89PNG")

    past = await client.get(f"/v1/generations/{job['id']}/artifacts/1", headers=account.headers)
    assert past.status_code == 404
    assert "index" in past.json()["message"]
    other = make_account(services.accounts, services.billing)
    hidden = await client.get(f"/v1/generations/{job['id']}/artifacts/0", headers=other.headers)
    assert hidden.status_code == 404
