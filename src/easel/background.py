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
from typing import Generic, TypeVar

log = logging.getLogger("easel")

Item = TypeVar("Item")


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


class QueuedWriter(BatchedWriter, Generic[Item]):
    """A `BatchedWriter` of items queued in a list and written together by `write`.

    A write the database refuses keeps its items for the next flush, ahead of those
    queued since. With `max_queued`, items beyond it are dropped and counted, and
    the next flush logs how many (`dropped`, a message with one %d).
    """

    def __init__(
        self,
        interval: float,
        *,
        name: str,
        log: logging.Logger,
        lost: str,
        max_queued: int | None = None,
        dropped: str = "%d queued writes dropped",
    ) -> None:
        super().__init__(interval, name=name, log=log, lost=lost)
        self._queued: list[Item] = []
        self._dropped = 0
        self._max_queued = max_queued
        self._dropped_message = dropped

    def add(self, item: Item) -> bool:
        """Queue `item` for the next write (no I/O); False if the queue was full."""
        with self._lock:
            if self._max_queued is not None and len(self._queued) >= self._max_queued:
                self._dropped += 1
                return False
            self._queued.append(item)
        return True

    @abstractmethod
    def write(self, items: list[Item]) -> None:
        """Write these items at once; raise if the database refuses."""

    def flush(self) -> int:
        """Write every queued item with one `write`; returns how many."""
        with self._lock:
            queued, self._queued = self._queued, []
            dropped, self._dropped = self._dropped, 0
        if dropped:
            self._log.warning(self._dropped_message, dropped)
        if not queued:
            return 0
        try:
            self.write(queued)
        except Exception:
            with self._lock:  # kept for the next flush, ahead of what came since
                self._queued = (queued + self._queued)[: self._max_queued]
            raise
        return len(queued)

    def waiting(self) -> int:
        with self._lock:
            return len(self._queued)
