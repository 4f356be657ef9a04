"""Which model sources are single-file checkpoints, and which files easel will not load.

A diffusers engine's `model` is a Hugging Face repo id, a local directory in
the diffusers layout, or one local `.safetensors` file in the original
(LDM/CompVis) layout that civitai, A1111 and ComfyUI users have. Pickled
checkpoints (`.ckpt`, `.pt`, `.pth`, `.bin`) are refused at start: unpickling
runs whatever code the file carries.

This module imports no torch: `EngineSpec` checks config with it.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from easel.engines.base import EngineSpec

SINGLE_FILE_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


def is_single_file(source: str) -> bool:
    """Whether `source` names a single-file `.safetensors` checkpoint."""
    return PurePath(source).suffix.lower() == SINGLE_FILE_SUFFIX


def single_file_problem(spec: EngineSpec) -> str | None:
    """What is wrong with `spec`'s checkpoint files, if anything.

    A diffusers engine's `model` / `inpaint_model` may not be a pickle, and
    `config` / `inpaint_config` only go with a single-file checkpoint.
    """
    for field, source, setting, config in (
        ("model", spec.model, "config", spec.config),
        ("inpaint_model", spec.inpaint_model, "inpaint_config", spec.inpaint_config),
    ):
        suffix = PurePath(source).suffix.lower() if spec.backend == "diffusers" and source else ""
        if suffix in PICKLE_SUFFIXES:
            return (
                f"engine {spec.id}: {field} {source!r} is a pickled checkpoint ({suffix}); "
                "loading one runs any code it carries, so easel loads single-file checkpoints "
                f"only as {SINGLE_FILE_SUFFIX}. Use the model's .safetensors release, or "
                "convert the file once where you trust it."
            )
        if config is not None and suffix != SINGLE_FILE_SUFFIX:
            return (
                f"engine {spec.id}: {setting} names the pipeline configuration of a single-file "
                f"checkpoint, but {field} is not a {SINGLE_FILE_SUFFIX} file on the diffusers "
                "backend"
            )
    return None
