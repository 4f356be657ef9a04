"""Single-file `.safetensors` checkpoints, loaded with diffusers' `from_single_file`.

A single-file checkpoint (`v1-5-pruned-emaonly.safetensors`,
`sd_xl_base_1.0.safetensors`, a civitai fine-tune) holds weights only, under
the original LDM/CompVis names. diffusers converts them, but builds the
pipeline from its configuration in the diffusers layout: `model_index.json`,
each component's `config.json`, the scheduler's and the tokenizer's files.
easel reads that configuration from disk only, never from the network:

- the engine's `config` (`inpaint_config` for `inpaint_model`): a local
  directory in the diffusers layout, or a Hugging Face repo id whose files
  are in the cache;
- unset: the repo diffusers infers from the checkpoint's keys and shapes
  (e.g. stable-diffusion-v1-5/stable-diffusion-v1-5), from the cache.

The configuration's `model_index.json` names the pipeline class whose
`from_single_file` loads the file; an auto-pipeline caller gets its task's
pipeline from that one with `from_pipe` (sharing the loaded modules).
Everything missing is a clear `InvalidRequest` naming what to set or fetch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easel.errors import InvalidRequest

__all__ = ["SingleFileSource", "config_dir", "load_single_file"]

# What `hf download` needs to fetch a pipeline's configuration without its weights.
_FETCH = "--include '*.json' --include '*.txt' --include '*.model'"


@dataclass(frozen=True)
class SingleFileSource:
    """A single-file checkpoint and where its pipeline configuration comes from."""

    engine_id: str
    path: str
    config: str | None = None  # the engine's setting: a directory or a cached repo id
    setting: str = "config"  # its name, for messages: "config" or "inpaint_config"

    def fail(self, problem: str) -> InvalidRequest:
        return InvalidRequest(
            f"Engine {self.engine_id} cannot load the single-file checkpoint "
            f"{Path(self.path).name}: {problem}"
        )


class _Shapes(Mapping[str, Any]):
    """A checkpoint's keys and tensor shapes, read from its header (no tensor is loaded)."""

    @dataclass(frozen=True)
    class _Entry:
        shape: tuple[int, ...]

    def __init__(self, handle: Any):
        self._handle = handle
        self._keys = list(handle.keys())
        self._key_set = set(self._keys)

    def __getitem__(self, key: str) -> _Entry:
        if key not in self._key_set:
            raise KeyError(key)
        return self._Entry(tuple(self._handle.get_slice(key).get_shape()))

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _inferred_repo(path: str) -> str:
    """The hub repo whose configuration diffusers would pick for this checkpoint."""
    from diffusers.loaders.single_file_utils import fetch_diffusers_config
    from safetensors import safe_open

    with safe_open(path, framework="pt") as handle:
        return str(fetch_diffusers_config(_Shapes(handle))["pretrained_model_name_or_path"])


def _cached_config(repo: str) -> Path | None:
    """The cached snapshot of `repo` holding its `model_index.json`, if there is one."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "model_index.json")
    return Path(found).parent if isinstance(found, str) else None


def _fetch_hint(repo: str) -> str:
    return f"fetch its configuration once (a few MB): hf download {repo} {_FETCH}"


def _check_header(source: SingleFileSource) -> None:
    """Refuse a file that is not a readable safetensors checkpoint (truncated, corrupt, or
    another format renamed) before diffusers fails on it deep inside a conversion."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(source.path, framework="pt") as handle:
            empty = not list(handle.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise source.fail(f"it is not a readable .safetensors file ({exc}).") from exc
    if empty:
        raise source.fail("it holds no tensors.")


def config_dir(source: SingleFileSource) -> Path:
    """The local diffusers-layout configuration of `source`'s pipeline (checks the file too)."""
    if not Path(source.path).is_file():
        raise source.fail(f"{source.path} is not a file.")
    _check_header(source)
    if source.config is not None:
        if Path(source.config).is_dir():
            directory = Path(source.config)
            if not (directory / "model_index.json").is_file():
                raise source.fail(
                    f"its {source.setting} {source.config} has no model_index.json; it should "
                    "be a pipeline's configuration in the diffusers layout (model_index.json and "
                    "one folder per component)."
                )
            return directory
        cached = _cached_config(source.config)
        if cached is None:
            raise source.fail(
                f"its {source.setting} {source.config!r} is neither a local directory nor a "
                f"repo id in the Hugging Face cache; {_fetch_hint(source.config)}, or set "
                f"{source.setting} to a local diffusers-layout directory."
            )
        return cached
    repo = _inferred_repo(source.path)
    cached = _cached_config(repo)
    if cached is None:
        raise source.fail(
            "diffusers rebuilds the pipeline from its configuration in the diffusers layout, "
            f"and the one it infers for this checkpoint ({repo}) is not in the Hugging Face "
            f"cache. Set the engine's {source.setting} to a local diffusers-layout directory "
            f"or to a cached repo id, or {_fetch_hint(repo)}."
        )
    return cached


def load_single_file(cls: Any, source: SingleFileSource, directory: Path, **kwargs: Any) -> Any:
    """Load `source` as a pipeline for `cls` (a pipeline class or a diffusers auto-pipeline).

    `directory` is its configuration (`config_dir`); `kwargs` go to
    `from_single_file` (dtype, safety checker switches).
    """
    import diffusers

    concrete = isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)
    if concrete:
        pipeline_cls = cls
    else:
        name = json.loads((directory / "model_index.json").read_text()).get("_class_name", "")
        pipeline_cls = getattr(diffusers, str(name), None)
    if pipeline_cls is None or not hasattr(pipeline_cls, "from_single_file"):
        what = getattr(pipeline_cls, "__name__", "this pipeline")
        raise source.fail(
            f"diffusers cannot load {what} from a single file; use a diffusers-layout "
            "directory or repo id as the engine's model."
        )
    pipe = pipeline_cls.from_single_file(
        source.path, config=str(directory), local_files_only=True, **kwargs
    )
    return pipe if concrete else cls.from_pipe(pipe)
