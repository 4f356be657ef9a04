"""Upscalers: exact output sizes; Real-ESRGAN weights in their release layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from easel.engines.base import EngineSpec, GenerationRequest
from easel.engines.registry import EngineRegistry
from easel.engines.upscalers import RRDBNet, SRVGGNetCompact, load_upscaler
from tests.integration.engines.conftest import (
    LANCZOS_UPSCALER,
    LATENT_UPSCALER,
    make_request,
    max_diff,
    noise_image,
    png,
)


def _upscale(
    width: int, height: int, source: tuple[int, int] = (40, 30), **kw: Any
) -> GenerationRequest:
    kw.setdefault("prompts", [])
    return make_request("upscale", size=(width, height), init_image=noise_image(source), **kw)


@pytest.fixture(scope="module")
def rrdb_x2_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = RRDBNet(scale=2, num_feat=8, num_block=2, num_grow_ch=4)
    path = tmp_path_factory.mktemp("esrgan") / "RealESRGAN_x2plus_tiny.pth"
    torch.save({"params_ema": net.state_dict()}, path)  # Real-ESRGAN's release wrapping
    return path


@pytest.fixture(scope="module")
def rrdb_x4_pth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    net = RRDBNet(scale=4, num_feat=8, num_block=1, num_grow_ch=4)
    path = tmp_path_factory.mktemp("esrgan") / "RealESRGAN_x4plus_tiny.pth"
    torch.save({"params": net.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def srvgg_safetensors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(2)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4, act_type="prelu")
    path = tmp_path_factory.mktemp("esrgan") / "realesr-general-x4v3-tiny.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def _registry(tmp_path: Path, spec: dict) -> EngineRegistry:
    base = {"id": "up", "name": "up", "kind": "upscale", "family": "esrgan"}
    return EngineRegistry([EngineSpec.model_validate({**base, **spec})], data_dir=tmp_path)


def test_rrdb_keys_match_real_esrgan() -> None:
    keys = set(RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4).state_dict())
    for key in (
        "conv_first.weight", "body.0.rdb1.conv1.weight", "body.0.rdb3.conv5.bias",
        "conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
        "conv_last.weight",
    ):  # fmt: skip
        assert key in keys
    # x2plus pixel-unshuffles by 2 first: 3 * 4 input channels.
    assert RRDBNet(scale=2).conv_first.weight.shape[1] == 12


@pytest.mark.parametrize(
    ("fixture", "arch", "scale"),
    [
        ("rrdb_x2_pth", "RRDBNet", 2),
        ("rrdb_x4_pth", "RRDBNet", 4),
        ("srvgg_safetensors", "SRVGGNetCompact", 4),
    ],
)
def test_load_upscaler_detects_architecture_and_scale(
    fixture: str, arch: str, scale: int, request: pytest.FixtureRequest
) -> None:
    loaded = load_upscaler(request.getfixturevalue(fixture))
    assert (loaded.arch, loaded.scale) == (arch, scale)
    out = loaded.net(torch.rand(1, 3, 12, 10))
    assert out.shape == (1, 3, 12 * scale, 10 * scale)


def test_load_upscaler_refuses_unknown_layouts(tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    torch.save({"model.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="original ESRGAN"):
        load_upscaler(path)


@pytest.mark.parametrize("fixture", ["rrdb_x2_pth", "rrdb_x4_pth", "srvgg_safetensors"])
@pytest.mark.parametrize("size", [(80, 60), (123, 77), (33, 20)])
def test_esrgan_engine_gives_the_exact_size(
    fixture: str, size: tuple[int, int], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    weights = request.getfixturevalue(fixture)
    engine = _registry(tmp_path, {"backend": "esrgan", "model": str(weights)}).get("up")
    (result,) = engine.generate([_upscale(*size, source=(41, 31))])  # odd input size too
    assert result.images[0].image.size == size and result.images[0].image.mode == "RGB"
    (again,) = engine.generate([_upscale(*size, source=(41, 31))])
    assert png(again.images[0].image) == png(result.images[0].image)


def test_tiles_match_a_whole_image_run(rrdb_x2_pth: Path) -> None:
    from easel.engines.backends.esrgan import run_tiled

    net = load_upscaler(rrdb_x2_pth).net
    image = torch.rand(1, 3, 50, 70)
    with torch.inference_mode():
        whole = run_tiled(net, image, scale=2, tile=1000, mod=2)
        tiled = run_tiled(net, image, scale=2, tile=16, tile_pad=32, mod=2)
    assert whole.shape == tiled.shape == (1, 3, 100, 140)
    assert float((whole - tiled).abs().max()) < 1e-4


def test_lanczos_engine_gives_the_exact_size(tmp_path: Path) -> None:
    from easel.engines.catalog import default_engines

    registry = EngineRegistry(default_engines(), data_dir=tmp_path)
    engine = registry.get(LANCZOS_UPSCALER)
    calls: list[tuple[int, int]] = []
    results = engine.generate(
        [_upscale(80, 60, seeds=[4, 5]), _upscale(101, 67)],
        progress=lambda s, t: calls.append((s, t)),
    )
    assert [r.images[0].image.size for r in results] == [(80, 60), (101, 67)]
    assert [i.seed for i in results[0].images] == [4, 5]
    assert calls == [(1, 2), (2, 2)]


def test_sandbox_esrgan_engine_builds_a_tiny_rrdbnet(tmp_path: Path) -> None:
    engine = _registry(tmp_path, {"backend": "sandbox"}).get("up")
    (result,) = engine.generate([_upscale(80, 60)])
    assert result.images[0].image.size == (80, 60)
    assert (tmp_path / "sandbox" / "esrgan-x2" / "model.pth").is_file()


@pytest.mark.parametrize("size", [(128, 96), (100, 60), (64, 64)])
def test_latent_upscaler_gives_the_exact_size(registry: EngineRegistry, size: tuple[int, int]):
    engine = registry.get(LATENT_UPSCALER)
    calls: list[tuple[int, int]] = []
    req = _upscale(*size, source=(32, 24), steps=2)
    (result,) = engine.generate([req], progress=lambda s, t: calls.append((s, t)))
    assert result.images[0].image.size == size
    assert calls == [(1, 2), (2, 2)]


def test_latent_upscaler_is_seeded(registry: EngineRegistry) -> None:
    engine = registry.get(LATENT_UPSCALER)
    a = engine.generate([_upscale(64, 64, steps=2, seeds=[1])])[0].images[0].image
    b = engine.generate([_upscale(64, 64, steps=2, seeds=[1])])[0].images[0].image
    c = engine.generate([_upscale(64, 64, steps=2, seeds=[2])])[0].images[0].image
    assert png(a) == png(b)
    assert max_diff(a, c) > 0
    prompted = (
        engine.generate([_upscale(64, 64, steps=2, seeds=[1], prompts=[("sharp", 1.0)])])[0]
        .images[0]
        .image
    )
    assert not np.array_equal(np.asarray(a), np.asarray(prompted))


def test_latent_upscaler_batches(registry: EngineRegistry) -> None:
    engine = registry.get(LATENT_UPSCALER)
    a, b = _upscale(64, 64, steps=2, seeds=[1]), _upscale(64, 64, steps=2, seeds=[2, 3])
    batched = engine.generate([a, b])
    solo = engine.generate([a]) + engine.generate([b])
    for got, want in zip(batched, solo, strict=True):
        for x, y in zip(got.images, want.images, strict=True):
            assert max_diff(x.image, y.image) <= 1


def test_latent_upscaler_cancels_within_one_step(registry: EngineRegistry) -> None:
    import threading

    from easel.errors import Cancelled

    cancel = threading.Event()
    calls: list[int] = []

    def progress(step: int, total: int) -> None:
        calls.append(step)
        cancel.set()

    with pytest.raises(Cancelled):
        registry.get(LATENT_UPSCALER).generate(
            [_upscale(64, 64, steps=5)], progress=progress, cancel=cancel
        )
    assert calls == [1]
