"""Job changes and cancels between processes and hosts, over Redis pub/sub.

`RedisJobNotifier` has `JobNotifier`'s interface: `notify(job_id)` publishes
the id on a channel, and a listener thread in every process (API or worker)
hands each message it hears to the in-process waiters. So a sync waiter on
one API process wakes as soon as a worker on another host settles its job,
an SSE watcher as soon as it writes progress, and the database is only re-read
every `poll_seconds` (5 s) as a safety net (a message lost while Redis
restarts).

Hints that a job only started or progressed travel on a channel of their
own, which a process hears only while one of its subscriptions follows
progress (a server-sent-event watcher). A request waiting for a result wants
its job's settle, not its every step; on one channel, every API process woke
for every step of every job in the cluster. A watcher that arrives while its
process does not hear progress waits at most `_TURN_SECONDS` for it; having
read the job when it subscribed, it misses no state, only a step's notice.

Cancels travel on a third channel: the API that took the cancel publishes
the job id and the worker holding the job stops it at its next step. The
store's `cancel_requested` flag stays the source of truth: while the
listener is subscribed the runner reads it at most every
`jobs.cancel_check_seconds` (a message lost then costs that long), and after
every step while it is not (Redis down), as without pub/sub.

Messages are hints: a publish that fails (Redis down) is logged and dropped,
never raised into a request or a running job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from easel.jobs.notify import JobNotifier

log = logging.getLogger("easel.jobs")

_RECONNECT_SECONDS = 1.0
# how long the listener waits for a message before it looks again at `stop` and, in an
# API process, at whether the process follows progress; a worker's listener has only
# `stop` to look at, and wakes no more often than it must
_TURN_SECONDS = 0.1
_WORKER_TURN_SECONDS = 0.5


class RedisJobNotifier(JobNotifier):
    # the listener wakes waiters; polling is only the fallback for a message lost while
    # Redis restarts (a change between a follower's read and its wait is not lost: see
    # `JobNotifier.subscribe`)
    poll_seconds = 5.0

    def __init__(self, url: str, *, channel: str = "easel:jobs") -> None:
        super().__init__()
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._changes = f"{channel}:changed"
        self._progress = f"{channel}:progress"
        self._cancels = f"{channel}:cancel"
        self._on_cancel: Callable[[str], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._listening = False

    # -- publishing ------------------------------------------------------------------------

    def notify(self, job_id: str, *, still_open: bool = False) -> None:
        """Wake this process's waiters at once, and every other process's through Redis."""
        super().notify(job_id, still_open=still_open)
        self._publish(self._progress if still_open else self._changes, job_id)

    def cancel(self, job_id: str) -> None:
        """Ask whichever worker holds `job_id` to stop it now."""
        self._publish(self._cancels, job_id)

    def _publish(self, channel: str, job_id: str) -> None:
        try:
            self._redis.publish(channel, job_id)
        except redis.RedisError as exc:
            if not self._failing:  # once per outage, not once per step
                log.warning("publishing on %s failed (%s); waiters poll instead", channel, exc)
            self._failing = True
        else:
            self._failing = False

    # -- listening -------------------------------------------------------------------------

    @property
    def hears_cancels(self) -> bool:
        """True while the listener is subscribed: a published cancel reaches this process."""
        return self._listening

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        """Call `callback(job_id)` (on the listener thread) for every cancel published."""
        self._on_cancel = callback

    def start(self, *, changes: bool = True) -> None:
        """Start listening. `changes=False` (an `easel worker`, where nothing waits on a
        job) hears cancels only: every job change in the cluster would otherwise wake the
        listener thread, taking the interpreter from the generation that runs."""
        self._thread = threading.Thread(
            target=self._listen, args=(changes,), name="easel-pubsub", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._redis.close()

    def _listen(self, changes: bool) -> None:
        lost = False
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            hears_progress = False
            try:
                pubsub.subscribe(*((self._changes, self._cancels) if changes else (self._cancels,)))
                self._listening = True
                if lost:
                    log.warning("job pub/sub listener reached Redis again")
                    lost = False
                while not self._stop.is_set():
                    # only this thread touches the subscription: redis-py's is not shared
                    if changes and self.follows_progress != hears_progress:
                        hears_progress = not hears_progress
                        if hears_progress:
                            pubsub.subscribe(self._progress)
                        else:
                            pubsub.unsubscribe(self._progress)
                    message = pubsub.get_message(
                        timeout=_TURN_SECONDS if changes else _WORKER_TURN_SECONDS
                    )
                    if message is not None:
                        self._deliver(message["channel"], message["data"])
            except redis.RedisError as exc:
                if not lost:  # once per outage, not once per reconnect attempt
                    log.warning("job pub/sub listener lost Redis (%s); reconnecting", exc)
                lost = True
                self._stop.wait(_RECONNECT_SECONDS)
            finally:
                self._listening = False
                pubsub.close()

    def _deliver(self, channel: bytes, data: bytes) -> None:
        job_id, name = data.decode(), channel.decode()
        if name == self._cancels:
            if self._on_cancel is not None:
                self._on_cancel(job_id)
        else:
            super().notify(job_id, still_open=name == self._progress)
