"""The tiny models: real diffusers layouts, deterministic, built once and atomically."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from easel.engines.tiny import MARKER, ensure_tiny_model


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_sd_layout(tiny_sd_model: Path) -> None:
    index = json.loads((tiny_sd_model / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (tiny_sd_model / name).is_dir()
    assert (tiny_sd_model / "tokenizer" / "vocab.json").is_file()
    assert (tiny_sd_model / "tokenizer" / "merges.txt").is_file()
    vae = json.loads((tiny_sd_model / "vae" / "config.json").read_text())
    assert vae["block_out_channels"] == [8, 16, 32, 32]  # 512 px -> 64x64 latents
    unet = json.loads((tiny_sd_model / "unet" / "config.json").read_text())
    assert unet["block_out_channels"] == [32, 64] and unet["cross_attention_dim"] == 32


def test_other_architectures(tiny_models: Path) -> None:
    def config(arch: str, part: str) -> dict:
        return json.loads((tiny_models / arch / part / "config.json").read_text())

    assert config("sd-inpaint", "unet")["in_channels"] == 9
    assert config("sdxl", "unet")["addition_embed_type"] == "text_time"
    assert config("sdxl", "text_encoder_2")["architectures"] == ["CLIPTextModelWithProjection"]
    assert config("sd-x4-upscaler", "unet")["in_channels"] == 7
    assert len(config("sd-x4-upscaler", "vae")["block_out_channels"]) == 3  # x4
    index = json.loads((tiny_models / "sd-x4-upscaler" / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionUpscalePipeline"
    assert "low_res_scheduler" in index


def test_tokenizer_is_local_and_clip_shaped(tiny_sd_model: Path) -> None:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(tiny_sd_model / "tokenizer"))
    assert tokenizer.model_max_length == 77
    ids = tokenizer("a cinematic photo of a cat", padding="max_length").input_ids
    assert len(ids) == 77
    assert ids[0] == tokenizer.bos_token_id
    # Known words are single tokens: <bos> a cinematic photo of a cat <eos>.
    assert ids.index(tokenizer.eos_token_id) == 7


def test_builds_are_deterministic(tmp_path: Path, tiny_sd_model: Path) -> None:
    again = ensure_tiny_model("sd", tmp_path)
    assert _digest(again) == _digest(tiny_sd_model)


def test_existing_model_is_reused(tiny_sd_model: Path) -> None:
    marker = tiny_sd_model / MARKER
    before = marker.stat().st_mtime_ns
    assert ensure_tiny_model("sd", tiny_sd_model.parent) == tiny_sd_model
    assert marker.stat().st_mtime_ns == before


def test_incomplete_directory_is_rebuilt(tmp_path: Path) -> None:
    partial = tmp_path / "esrgan-x4"
    partial.mkdir()
    (partial / "junk").write_text("half a model")
    path = ensure_tiny_model("esrgan-x4", tmp_path)
    assert path.is_file() and (partial / MARKER).is_file()
    assert not (partial / "junk").exists()


def test_concurrent_builds_leave_one_complete_model(tmp_path: Path) -> None:
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(ensure_tiny_model("esrgan-x2", tmp_path)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and paths[0].is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["esrgan-x2"]  # no temp dirs left


def test_unknown_architecture() -> None:
    with pytest.raises(ValueError, match="unknown tiny architecture"):
        ensure_tiny_model("sd9", Path("unused"))
