"""The messages between the API process and a local worker process, and the pipe they travel on.

One duplex pipe per worker (a `multiprocessing` `Pipe` from the `spawn`
context), not a shared queue: the API knows which worker holds which job,
and a worker's death shows as end-of-file on its own pipe. A shared
`multiprocessing.Queue` guards its buffer with a lock that a worker killed
at the wrong moment would hold forever. Only job ids and small facts cross
it; jobs themselves are rebuilt from the job store by the worker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

# -- API process → worker


@dataclass(frozen=True)
class RunBatch:
    """Run these jobs as one batch; answer `BatchDone(batch)` when every one is settled."""

    batch: int
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class CancelJob:
    """Stop this job now (its `cancel_requested` flag is already set in the store)."""

    job_id: str


@dataclass(frozen=True)
class StopWorker:
    """Cancel whatever runs, finish the batch, and exit."""


# -- worker → API process


@dataclass(frozen=True)
class WorkerStarted:
    """The worker is built: `owner` names its leases; `not_ready` says what still loads."""

    owner: str
    not_ready: str | None


@dataclass(frozen=True)
class WorkerReady:
    """Preloading ended: None when every preloaded engine loaded, else why not."""

    not_ready: str | None


@dataclass(frozen=True)
class JobChanged:
    """A job's progress or state changed in the store: wake its waiters (`still_open`: it
    started or progressed, nothing more)."""

    job_id: str
    still_open: bool = False


@dataclass(frozen=True)
class BatchDone:
    batch: int


ToWorker = RunBatch | CancelJob | StopWorker
FromWorker = WorkerStarted | WorkerReady | JobChanged | BatchDone


class Channel:
    """One end of a worker's pipe: sends from any thread, receives in one.

    `send` after the other side died raises `OSError` (`BrokenPipeError`);
    `recv` raises `EOFError` once the other side is gone.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._send_lock = threading.Lock()

    def send(self, message: ToWorker | FromWorker) -> None:
        with self._send_lock:
            self._connection.send(message)

    def recv(self) -> ToWorker | FromWorker:
        message: ToWorker | FromWorker = self._connection.recv()
        return message

    def poll(self, timeout: float = 0.0) -> bool:
        """True when a message (or end-of-file) is waiting."""
        return self._connection.poll(timeout)

    def close(self) -> None:
        self._connection.close()
