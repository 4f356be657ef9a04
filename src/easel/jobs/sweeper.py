"""A background thread that deletes expired jobs on an interval.

A thread rather than an event-loop task: stopping it joins it, so the sweep
never still holds a database connection when the app disposes of its pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("easel.jobs")


class Sweeper:
    def __init__(self, sweep: Callable[[], object], interval: float) -> None:
        self._sweep = sweep
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="easel-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sweep()
            except Exception:  # a failed sweep is retried on the next tick
                log.exception("retention sweep failed")
            self._stop.wait(self._interval)
