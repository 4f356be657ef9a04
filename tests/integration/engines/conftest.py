"""Engine fixtures: tiny models built once per session, loaded through the real code.

The whole package runs offline: the Hugging Face hub is switched to offline
mode and any non-loopback network connection fails the test.
"""

from __future__ import annotations

import io
import ipaddress
import shutil
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from easel.engines.base import Engine, GenerationRequest, WeightedPrompt
from easel.engines.catalog import default_engines
from easel.engines.registry import EngineRegistry
from easel.engines.tiny import ensure_tiny_model

SD_ENGINE = "stable-diffusion-v1-6"
SDXL_ENGINE = "stable-diffusion-xl-1024-v1-0"
RELIGHT_ENGINE = "stable-image-replace-background-and-relight"
SD3_ENGINE = "sd3.5-large"
INPAINT_ENGINE = "stable-inpainting-v1-0"
LATENT_UPSCALER = "stable-diffusion-x4-latent-upscaler"
LANCZOS_UPSCALER = "esrgan-v1-x2plus"


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] == "localhost"


@pytest.fixture(scope="package", autouse=True)
def offline() -> Iterator[None]:
    """No hub access and no network for any engine test."""
    import huggingface_hub.constants

    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # huggingface_hub reads the environment at import; flip its constant too.
    patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(real: Any) -> Any:
        def call(self: socket.socket, address: Any) -> Any:
            if not _is_loopback(address):
                raise AssertionError(f"engine tests must not use the network ({address!r})")
            return real(self, address)

        return call

    patch.setattr(socket.socket, "connect", guarded(connect))
    patch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    yield
    patch.undo()


# One intra-op thread: the test machine's cores are shared with other test
# processes, and OpenMP threads that wait for a descheduled sibling make each
# op stall (measured: ~4x slower with 2 threads under load). It also fixes the
# thread count that byte-identical outputs across processes assume.
TORCH_THREADS = 1


@pytest.fixture(scope="package", autouse=True)
def torch_threads() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines-data")


@pytest.fixture(scope="session")
def tiny_models(data_dir: Path) -> Path:
    """All tiny diffusers models, built once where the sandbox backend looks for them."""
    root = data_dir / "sandbox"
    for arch in ("sd", "sdxl", "sd3", "sd-inpaint", "sd-x4-upscaler"):
        ensure_tiny_model(arch, root)
    return root


@pytest.fixture(scope="session")
def tiny_sd_model(tiny_models: Path) -> Path:
    return tiny_models / "sd"


@pytest.fixture(scope="session")
def tiny_sdxl_model(tiny_models: Path) -> Path:
    return tiny_models / "sdxl"


@pytest.fixture(scope="session")
def tiny_inpaint_model(tiny_models: Path) -> Path:
    return tiny_models / "sd-inpaint"


@pytest.fixture(scope="session")
def registry(data_dir: Path, tiny_models: Path) -> EngineRegistry:
    """The default engine list on the sandbox backend, on CPU."""
    return EngineRegistry(default_engines(), data_dir=data_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def sd_engine(registry: EngineRegistry) -> Engine:
    return registry.get(SD_ENGINE)


@pytest.fixture(scope="session")
def sdxl_engine(registry: EngineRegistry) -> Engine:
    return registry.get(SDXL_ENGINE)


@pytest.fixture(scope="session")
def sd3_engine(registry: EngineRegistry) -> Engine:
    return registry.get(SD3_ENGINE)


@pytest.fixture(scope="session")
def inpaint_engine(registry: EngineRegistry) -> Engine:
    return registry.get(INPAINT_ENGINE)


# --------------------------------------------------------------------------- helpers


def make_request(
    kind: str = "text-to-image",
    prompts: Sequence[tuple[str, float]] | str = "a cat",
    *,
    seeds: Sequence[int] = (1,),
    size: int | tuple[int, int] = 64,
    steps: int = 3,
    **kwargs: Any,
) -> GenerationRequest:
    """A small, fast request (64 px, 3 steps unless told otherwise)."""
    if isinstance(prompts, str):
        prompts = [(prompts, 1.0)]
    width, height = (size, size) if isinstance(size, int) else size
    return GenerationRequest(
        kind=kind,  # type: ignore[arg-type]
        prompts=[WeightedPrompt(text, weight) for text, weight in prompts],
        width=width,
        height=height,
        seeds=list(seeds),
        steps=steps,
        **kwargs,
    )


def noise_image(size: int | tuple[int, int] = 64, seed: int = 0) -> Image.Image:
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def max_diff(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())


def populate_hub_cache(cache: Path, repo_id: str, files: Path) -> None:
    """Lay `files` out as the Hugging Face cache holds `repo_id` (main at a fixed commit)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(files, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
