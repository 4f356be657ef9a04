"""The SDK and the CLI against a real easel server process (sandbox engines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from easel.client import AsyncClient, Client, NotFoundError
from tests.images import mask_png, noise_png
from tests.integration.conftest import RunningServer


def size_of(path: Path | str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.fixture
def client(running_server: RunningServer) -> Client:
    return Client(running_server.api_key, host=running_server.url)


def test_account_balance_engines(client: Client) -> None:
    with client:
        assert client.account().email == "admin@easel.example"
        assert client.balance().credits > 0
        options = client.engine_options()
        assert {"label": "Stable Diffusion v1.6", "value": "stable-diffusion-v1-6"} in options
        estimate = client.estimate_credits("stable-diffusion-v1-6", steps=10, samples=2)
        assert estimate == pytest.approx(0.9 * 2 * 10 / 30, abs=0.001)


def test_generation_methods_and_charges(client: Client, tmp_path: Path) -> None:
    with client:
        before = client.balance().credits
        result = client.text_to_image(
            "stable-diffusion-v1-6", "a lighthouse", steps=10, seed=11, samples=2
        )
        assert [a.seed for a in result.artifacts] == [11, 12]
        assert result.generation_id and result.request_id
        paths = result.save_all(tmp_path, prefix="t2i")
        assert [size_of(p) for p in paths] == [(512, 512), (512, 512)]
        after = client.balance().credits
        estimate = client.estimate_credits("stable-diffusion-v1-6", steps=10, samples=2)
        assert before - after == pytest.approx(estimate, abs=0.001)

        init = tmp_path / "init.png"
        init.write_bytes(noise_png(512, 512))
        mask = tmp_path / "mask.png"
        mask.write_bytes(mask_png(512, 512, box=(0, 0, 256, 256)))
        assert client.image_to_image(
            "stable-diffusion-v1-6", init, "at night", steps=10, image_strength=0.5
        ).artifacts
        assert client.masking(
            "stable-inpainting-512-v2-0", init, mask, prompt="a door", steps=10
        ).artifacts
        upscaled = client.upscale("esrgan-v1-x2plus", init, width=1024)
        assert size_of(upscaled.artifacts[0].save(tmp_path / "up.png")) == (1024, 1024)

        with pytest.raises(NotFoundError) as missing:
            client.text_to_image("no-such-engine", "x", steps=10)
        assert missing.value.name == "not_found" and missing.value.request_id


async def test_async_client(running_server: RunningServer) -> None:
    async with AsyncClient(running_server.api_key, host=running_server.url) as client:
        result = await client.text_to_image("stable-diffusion-v1-6", "a cat", steps=10, seed=3)
        assert result.artifacts[0].seed == 3
        assert (await client.balance()).credits > 0


def cli(running_server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "API_HOST": running_server.url, "EASEL_API_KEY": running_server.api_key}
    return subprocess.run(
        [sys.executable, "-m", "easel.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_generate_prints_one_path_per_line(
    running_server: RunningServer, tmp_path: Path
) -> None:
    done = cli(
        running_server,
        "generate",
        "a lighthouse on a cliff",
        "-o",
        str(tmp_path),
        "--steps",
        "10",
        "--samples",
        "2",
        "--seed",
        "5",
    )
    assert done.returncode == 0, done.stderr
    paths = [Path(line) for line in done.stdout.splitlines()]
    assert len(paths) == 2 and all(p.is_file() and p.parent == tmp_path for p in paths)

    done = cli(running_server, "generate", "x", "-o", str(tmp_path), "--steps", "10", "--json")
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)
    assert Path(item["path"]).is_file() and item["finish_reason"] == "SUCCESS"


def test_cli_engines_balance_and_errors(running_server: RunningServer, tmp_path: Path) -> None:
    engines = cli(running_server, "engines", "--json")
    assert engines.returncode == 0
    assert "stable-diffusion-xl-1024-v1-0" in {e["id"] for e in json.loads(engines.stdout)}
    assert cli(running_server, "balance").returncode == 0

    image = tmp_path / "small.png"
    image.write_bytes(noise_png(300, 200))
    done = cli(running_server, "upscale", str(image), "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert size_of(done.stdout.strip()) == (600, 400)

    bad = cli(running_server, "generate", "x", "--engine", "nope", "-o", str(tmp_path))
    assert bad.returncode == 7  # 404
    assert bad.stderr.startswith("error: 404 not_found")
    denied = subprocess.run(
        [sys.executable, "-m", "easel.cli.main", "balance"],
        env={**os.environ, "API_HOST": running_server.url, "EASEL_API_KEY": "sk-wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert denied.returncode == 4 and "unauthorized" in denied.stderr


def test_v2beta_methods_against_easel(client: Client, tmp_path: Path) -> None:
    reports = []
    with client:
        core = client.generate_core("a lighthouse", seed=5, output_format="jpeg")
        fast = client.upscale_fast(noise_png(64, 64))
        # an asynchronous job whose output is the input's size (a creative upscale is
        # always ~4 MP, which test_v2beta_server already runs over HTTP)
        job = client.edit_replace_background_and_relight(
            noise_png(64, 64), background_prompt="a forest", light_source_direction="left"
        )
        result = job.wait(timeout=600, poll_interval=0.2, on_progress=reports.append)
        again = client.generation(job.id).poll()  # results stay fetchable

    assert core.media_type == "image/jpeg" and core.seed == 5
    assert core.save(tmp_path / "core") == tmp_path / "core.jpg"
    assert size_of(fast.save(tmp_path)) == (256, 256)
    assert result.media_type == "image/png" and again is not None and again.data == result.data
    assert size_of(result.save(tmp_path / "relit")) == (64, 64)
    assert reports[-1].progress == 1.0 and job.progress == 1.0


async def test_v2beta_async_client_against_easel(running_server: RunningServer) -> None:
    async with AsyncClient(running_server.api_key, host=running_server.url) as client:
        sd3 = await client.generate_sd3("a fox", image=noise_png(64, 64), strength=0.5)
        fast = await client.upscale_fast(noise_png(64, 64), output_format="webp")

    assert sd3.media_type == "image/png" and sd3.seed is not None
    assert fast.media_type == "image/webp" and fast.extension == ".webp"
