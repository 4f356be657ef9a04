"""Helpers shared by the torch backends: error translation, dtypes, sizes.

Every backend turns torch/diffusers failures into easel's domain errors in
the same way (`engine_errors`), measures its loaded size the same way
(`module_bytes`) and checks requests the same way.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from easel.engines.base import GenerationKind, GenerationRequest
from easel.errors import Cancelled, EaselError, EngineError, InvalidRequest, OutOfMemory

logger = logging.getLogger("easel.engines")

_DTYPES = {
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
}


class CancelSignal(Exception):
    """Raised inside a pipeline step callback to abort the pipeline at once."""


def torch_dtype(name: str) -> Any:
    """`torch.float16` for "float16" etc."""
    import torch

    try:
        return getattr(torch, _DTYPES[name])
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected float16, bfloat16 or float32") from None


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


@contextlib.contextmanager
def engine_errors(engine_id: str, action: str) -> Iterator[None]:
    """Translate exceptions raised while `action`-ing into easel errors."""
    try:
        yield
    except CancelSignal:
        raise Cancelled(f"The generation on engine {engine_id} was cancelled.") from None
    except EaselError:
        raise
    except Exception as exc:
        if _is_oom(exc):
            free_accelerator_memory()
            raise OutOfMemory(
                f"Engine {engine_id} ran out of memory while {action}; "
                "try fewer samples or a smaller size."
            ) from exc
        logger.exception("engine %s failed while %s", engine_id, action)
        raise EngineError(
            f"Engine {engine_id} failed while {action}: {type(exc).__name__}: {exc}"
        ) from exc


def free_accelerator_memory() -> None:
    import torch

    # a worker froze its heap after loading (easel.heap): a freed model's cycles are
    # only collected once unfrozen; the next load freezes again
    gc.unfreeze()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


def module_bytes(modules: Iterable[object]) -> int:
    """Bytes of parameters and buffers of the distinct torch modules in `modules`."""
    import torch

    seen: set[int] = set()
    total = 0
    for module in modules:
        if not isinstance(module, torch.nn.Module) or id(module) in seen:
            continue
        seen.add(id(module))
        for tensor in (*module.parameters(), *module.buffers()):
            total += tensor.numel() * tensor.element_size()
    return total


def quiet_hf() -> None:
    """Turn off the loading progress bars of diffusers/transformers/hub (process-wide).

    easel is a server: tqdm bars on stderr are noise in its logs.
    """
    with contextlib.suppress(ImportError):
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def check_kinds(
    engine_id: str, requests: Sequence[GenerationRequest], allowed: Iterable[GenerationKind]
) -> None:
    allowed = tuple(allowed)
    for request in requests:
        if request.kind not in allowed:
            raise InvalidRequest(f"Engine {engine_id} does not support {request.kind} requests.")
        if not request.seeds:
            raise InvalidRequest("A request needs at least one seed (sample).", param="samples")


def extra_fraction(request: GenerationRequest, key: str, default: float) -> float:
    """The number 0-1 a request carries in `extras[key]`, or `default` when absent."""
    value = request.extras.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidRequest(f"{key}: must be a number from 0 to 1, got {value!r}", param=key)
    return float(value)


def check_cancel(engine_id: str, cancel: object) -> None:
    if cancel is not None and cancel.is_set():  # type: ignore[attr-defined]
        raise Cancelled(f"The generation on engine {engine_id} was cancelled.")


class NoModel:
    """The model lifecycle of an engine without weights (a resize, a test fake):
    always loaded, nothing to load or free, no memory held."""

    loaded = True

    def load(self) -> None:
        pass

    def unload(self) -> None:
        pass

    def memory_bytes(self) -> int:
        return 0
