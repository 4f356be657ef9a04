"""The real-weights path: `backend="diffusers"` from a directory and from a hub repo id.

The sandbox's tiny models are saved in the diffusers layout, so pointing a
diffusers engine at one (as a directory, or as a repo id in a pre-populated
Hugging Face cache with the hub offline) runs exactly the code real weights
run, with no network.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from easel.engines.base import EngineSpec
from easel.engines.registry import EngineRegistry
from tests.integration.engines.conftest import (
    SD_ENGINE,
    TORCH_THREADS,
    make_request,
    noise_image,
    pixels,
    png,
    populate_hub_cache,
)

REPO_ID = "easel-test/tiny-sd"


def _diffusers_registry(tmp_path: Path, **fields: object) -> EngineRegistry:
    spec = EngineSpec.model_validate(
        {"id": "real-sd", "name": "Real SD", "family": "sd1", "backend": "diffusers", **fields}
    )
    return EngineRegistry([spec], data_dir=tmp_path, device="cpu", dtype="float32")


def test_local_directory_loads_like_the_sandbox(
    tmp_path: Path, tiny_sd_model: Path, registry: EngineRegistry
) -> None:
    engine = _diffusers_registry(tmp_path, model=str(tiny_sd_model)).get("real-sd")
    req = make_request(prompts="a lighthouse", seeds=[21])
    (result,) = engine.generate([req])
    (sandbox,) = registry.get(SD_ENGINE).generate([req])
    assert png(result.images[0].image) == png(sandbox.images[0].image)
    assert not (tmp_path / "sandbox").exists()  # nothing was built


def test_separate_inpainting_weights_serve_masking(
    tmp_path: Path, tiny_sd_model: Path, tiny_inpaint_model: Path
) -> None:
    import numpy as np
    from PIL import Image

    engine = _diffusers_registry(
        tmp_path, model=str(tiny_sd_model), inpaint_model=str(tiny_inpaint_model)
    ).get("real-sd")
    init = noise_image(seed=1)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    (result,) = engine.generate([make_request("masking", init_image=init, mask=mask)])
    keep = np.asarray(mask) == 0
    assert np.array_equal(pixels(result.images[0].image)[keep], pixels(init)[keep])
    masking = engine.backend._pipes["masking"]  # type: ignore[attr-defined]
    assert masking.unet.config.in_channels == 9  # the inpainting UNet, not from_pipe


def test_hub_repo_id_loads_offline_from_the_cache(
    tmp_path: Path, tiny_sd_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    hf_home = tmp_path / "hf"
    cache = hf_home / "hub"
    populate_hub_cache(cache, REPO_ID, tiny_sd_model)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads these at import time; the running process needs them patched.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    engine = _diffusers_registry(tmp_path, model=REPO_ID).get("real-sd")
    req = make_request(prompts="a lighthouse", seeds=[21])
    (from_hub,) = engine.generate([req])
    local = _diffusers_registry(tmp_path, model=str(tiny_sd_model)).get("real-sd")
    (from_dir,) = local.generate([req])
    assert png(from_hub.images[0].image) == png(from_dir.images[0].image)


def test_unknown_repo_id_fails_cleanly_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub.constants

    from easel.errors import EngineError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    engine = _diffusers_registry(tmp_path, model="easel-test/not-cached").get("real-sd")
    with pytest.raises(EngineError, match="loading its model"):
        engine.generate([make_request()])


_CHILD = textwrap.dedent(
    """
    import hashlib, io, json, sys
    from pathlib import Path

    import torch

    torch.set_num_threads({threads})
    from easel.engines.base import GenerationRequest, WeightedPrompt
    from easel.engines.catalog import default_engines
    from easel.engines.registry import EngineRegistry

    registry = EngineRegistry(default_engines(), data_dir=Path(sys.argv[1]), device="cpu")
    engine = registry.get("{engine}")
    request = GenerationRequest(
        kind="text-to-image", prompts=[WeightedPrompt("a lighthouse")],
        width=64, height=64, seeds=[21, 22], steps=3,
    )
    digests = []
    for image in engine.generate([request])[0].images:
        buffer = io.BytesIO()
        image.image.save(buffer, format="PNG")
        digests.append(hashlib.sha256(buffer.getvalue()).hexdigest())
    print(json.dumps(digests))
    """
)


def test_same_seed_gives_same_bytes_in_another_process(
    data_dir: Path, tiny_models: Path, registry: EngineRegistry
) -> None:
    req = make_request(prompts="a lighthouse", seeds=[21, 22])
    here = [
        hashlib.sha256(png(image.image)).hexdigest()
        for image in registry.get(SD_ENGINE).generate([req])[0].images
    ]
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(threads=TORCH_THREADS, engine=SD_ENGINE)]
        + [str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.strip().splitlines()[-1]) == here
