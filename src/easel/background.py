"""A background thread that runs one action on an interval: sweeps, lease renewals,
and the writers that keep batched writes off the request path.

A thread rather than an event-loop task: stopping it joins it, so the action
never still holds a database connection when the app disposes of its pool,
and it keeps its beat while engine calls keep other threads busy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("easel")


class Periodic:
    def __init__(
        self, action: Callable[[], object], interval: float, *, name: str = "easel-periodic"
    ) -> None:
        self._action = action
        self._interval = interval
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._action()
            except Exception:  # a failed run is retried on the next tick
                log.exception("%s failed", self._name)
            self._stop.wait(self._interval)
