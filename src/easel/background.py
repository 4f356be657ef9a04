"""A background thread that runs one action on an interval: sweeps, lease renewals,
and the writers that keep batched writes off the request path.

A thread rather than an event-loop task: stopping it joins it, so the action
never still holds a database connection when the app disposes of its pool,
and it keeps its beat while engine calls keep other threads busy.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
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


class BatchedWriter(ABC):
    """Writes queued in memory and made by `flush`: on a thread every `interval`, and once
    more on `close`. That last flush logs what the database refused (`lost`, a message
    with one %d for `waiting()`) instead of raising: shutting down must go on."""

    def __init__(self, interval: float, *, name: str, log: logging.Logger, lost: str) -> None:
        self._writer = Periodic(self.flush, interval, name=name)
        self._log = log
        self._lost = lost
        # guards what a subclass queues: requests add to it while the thread flushes
        self._lock = threading.Lock()

    @abstractmethod
    def flush(self) -> int:
        """Write what is queued; keep it queued (and raise) if the database refuses."""

    @abstractmethod
    def waiting(self) -> int:
        """How many writes are queued."""

    def start(self) -> None:
        self._writer.start()

    def close(self) -> None:
        """Stop the thread and write what is still queued."""
        self._writer.stop()
        try:
            self.flush()
        except Exception:
            self._log.exception(self._lost, self.waiting())
