"""The bad-input corpus (`tests/data/bad/`) against every image-taking v1 and v2beta route:
each file gets a 4xx in that version's Stability error body, and nothing is charged."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from easel.api.services import Services
from tests.data.bad.make import text_chunk_bomb
from tests.factories import TestAccount, make_account
from tests.images import mask_png, noise_png

CORPUS = Path(__file__).parents[2] / "data" / "bad"
SD = "stable-diffusion-v1-6"
INPAINT = "stable-inpainting-512-v2-0"
ESRGAN = "esrgan-v1-x2plus"
PROMPT = {"text_prompts[0][text]": "a lighthouse", "steps": "10"}

# route, the field the bad file goes in, the good files and fields around it
TARGETS = {
    "image-to-image init_image": (f"/v1/generation/{SD}/image-to-image", "init_image", {}, {}),
    "masking init_image": (
        f"/v1/generation/{INPAINT}/image-to-image/masking",
        "init_image",
        {"mask_image": mask_png(512, 512, box=(0, 0, 256, 256))},
        {"mask_source": "MASK_IMAGE_WHITE"},
    ),
    "masking mask_image": (
        f"/v1/generation/{INPAINT}/image-to-image/masking",
        "mask_image",
        {"init_image": noise_png(512, 512)},
        {"mask_source": "MASK_IMAGE_WHITE"},
    ),
    "upscale image": (f"/v1/generation/{ESRGAN}/image-to-image/upscale", "image", {}, {}),
}

# v2beta: route, the fields that make the request valid around the bad `image`
V2BETA_TARGETS = {
    "generate/ultra image": ("/v2beta/stable-image/generate/ultra", {"strength": "0.5"}),
    "upscale/fast image": ("/v2beta/stable-image/upscale/fast", {}),
    "upscale/conservative image": ("/v2beta/stable-image/upscale/conservative", {}),
    "upscale/creative image": ("/v2beta/stable-image/upscale/creative", {}),
}
V2BETA_PROMPT = {"prompt": "a lighthouse"}
V2BETA_CREDITS = 100  # creative upscale costs 60, more than the `account` fixture's 50

pytestmark = pytest.mark.usefixtures("fake_engines")


def corpus() -> dict[str, bytes]:
    files = {
        path.name: path.read_bytes()
        for path in sorted(CORPUS.iterdir())
        if path.is_file() and path.suffix not in (".py", ".md")
    }
    files["text_chunk_bomb.png (50 MB of zTXt)"] = text_chunk_bomb()
    return files


def test_the_corpus_holds_every_kind_of_bad_file() -> None:
    assert {
        "truncated.png",
        "bad_crc.png",
        "short_data.png",
        "bomb_20000x20000.png",
        "image.gif",
        "image.tiff",
        "image.bmp",
        "document.pdf",
        "image.eps",
        "random.bin",
        "polyglot.png.zip",
    } <= set(corpus())


@pytest.mark.parametrize("target", list(TARGETS))
async def test_every_bad_file_is_a_4xx_and_free(
    client: httpx.AsyncClient, account: TestAccount, services: Services, target: str
) -> None:
    path, field, good_files, fields = TARGETS[target]
    wrong = []
    for name, data in corpus().items():
        response = await client.post(
            path,
            headers=account.headers,
            files={**good_files, field: (name, data, "image/png")},
            data={**PROMPT, **fields},
        )
        body = response.json()
        if not (
            400 <= response.status_code < 500
            and set(body) == {"id", "name", "message"}
            and body["message"].startswith(f"{field}:")
        ):
            wrong.append((name, response.status_code, body))
    assert wrong == []
    assert services.billing.available_credits(account.org_id) == 50
    assert [e.kind for e in services.billing.ledger(account.org_id)] == ["grant"]


@pytest.mark.parametrize("target", list(TARGETS))
async def test_the_good_files_around_them_are_accepted(
    client: httpx.AsyncClient, account: TestAccount, target: str
) -> None:
    # So that the 4xx above is the bad file's doing and nothing else's.
    path, field, good_files, fields = TARGETS[target]
    response = await client.post(
        path,
        headers=account.headers,
        files={**good_files, field: noise_png(512, 512)},
        data={**PROMPT, **fields},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("target", list(V2BETA_TARGETS))
async def test_every_bad_file_is_a_v2beta_4xx_and_free(
    client: httpx.AsyncClient, services: Services, target: str
) -> None:
    path, fields = V2BETA_TARGETS[target]
    account = make_account(services.accounts, services.billing, credits=V2BETA_CREDITS)
    wrong = []
    for name, data in corpus().items():
        response = await client.post(
            path,
            headers=account.headers,
            files={"image": (name, data, "image/png")},
            data={**V2BETA_PROMPT, **fields},
        )
        body = response.json()
        if not (
            400 <= response.status_code < 500
            and set(body) == {"id", "name", "errors"}
            and len(body["errors"]) == 1
            and body["errors"][0].startswith("image:")
        ):
            wrong.append((name, response.status_code, body))
    assert wrong == []
    assert services.billing.available_credits(account.org_id) == V2BETA_CREDITS
    assert [e.kind for e in services.billing.ledger(account.org_id)] == ["grant"]


@pytest.mark.parametrize("target", list(V2BETA_TARGETS))
async def test_a_good_v2beta_image_is_accepted(
    client: httpx.AsyncClient, services: Services, target: str
) -> None:
    path, fields = V2BETA_TARGETS[target]
    account = make_account(services.accounts, services.billing, credits=V2BETA_CREDITS)
    response = await client.post(
        path,
        headers=account.headers,
        files={"image": ("image.png", noise_png(512, 512), "image/png")},
        data={**V2BETA_PROMPT, **fields},
    )
    assert response.status_code == 200, response.text
