"""Keeps the cyclic garbage collector off a server process's long-lived heap.

A full collection walks every tracked object. In an API process (FastAPI,
pydantic, SQLAlchemy: ~140,000 objects) that stalled every request in flight
for ~120 ms, twice in six seconds under load; in a worker with torch,
diffusers and transformers imported (~550,000 objects) one takes ~300 ms,
which would stall a denoising loop for as many GPU steps. What exists once a
process has started, or has loaded a model, lives as long as the process or
the model: `freeze_long_lived` collects once and moves it all out of the
collector's sight (`gc.freeze`). Freeing a model unfreezes first
(`engines.backends._common.free_accelerator_memory`), so the model's own
reference cycles are collected with it.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect now, then keep everything that survived out of later collections."""
    gc.collect()
    gc.freeze()
