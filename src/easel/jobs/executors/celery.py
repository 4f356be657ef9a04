"""The celery executor: API processes queue job ids on a broker; `easel worker`s run them.

The only module that imports celery (the composition root imports it lazily).

API side, `CeleryExecutor.submit` sends one message per job, carrying only
the job id and its batch key, on the broker (Redis, or RabbitMQ with an
`amqp://` URL). Worker side, `CeleryWorker` runs a celery worker with the
solo pool (one batch at a time: one worker per device), late
acknowledgement and prefetch 1, so a message is acknowledged only once its
job is settled in the database, and a worker that dies leaves its message to
be redelivered. The job seam does the rest: `JobRunner` takes the job's
lease, so a redelivered message for a job already running, finished or
cancelled is acknowledged and skipped, and `LeaseKeeper` renews the leases
of the jobs the worker holds.

Fairness across workers: four priority classes, chosen at submit from how
many jobs the organization already has open (see `priority_class`). Workers
take the highest class first, so a lone request overtakes another
organization's backlog on every worker at once, with no shared counter to
keep consistent (nothing to leak when a worker is killed) and with each
broker's own priority support (Redis: one list per class, read in order;
RabbitMQ: `x-max-priority`).

Batching: a worker that receives a job drains compatible queued jobs (same
batch key) through `BatchIndex` and runs them as one engine call.

Cancel and progress travel through the database plus Redis pub/sub
(`RedisJobNotifier`): the worker holding a job hears the cancel at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from celery import Celery, bootsteps
from kombu.entity import Queue
from kombu.exceptions import KombuError, OperationalError

from easel.background import Periodic, QueuedWriter
from easel.errors import Overloaded
from easel.jobs.batch_index import BatchIndex
from easel.jobs.lease import LeaseKeeper
from easel.jobs.redis_notifier import RedisJobNotifier
from easel.jobs.runner import JobRunner
from easel.jobs.store import JobStore

log = logging.getLogger("easel.jobs")

TASK = "easel.run_job"
# the owner of a queued job once its message is on the broker
BROKER = "broker"
# a stored job not on the broker this long after it was created lost its API process
# between the database commit and the publish: another API process publishes it
REQUEUE_AFTER_SECONDS = 5.0
# how often an API process records, in one UPDATE, the jobs it published since: well
# inside REQUEUE_AFTER_SECONDS, so a job is republished only if its API process died
HAND_OVER_SECONDS = 0.5
CLASSES = 4
# An organization's open jobs (this one included) below each bound ride that class.
_CLASS_BOUNDS = (2, 8, 32)
BROKER_RETRY_AFTER = 5


def priority_class(open_jobs: int) -> int:
    """0 (served first) .. 3: an organization's first two open jobs ride class 0,
    its backlog sinks, so one organization's 500 jobs cannot starve another's one."""
    return sum(open_jobs > bound for bound in _CLASS_BOUNDS)


@dataclass(frozen=True)
class CeleryOptions:
    broker_url: str
    queue: str
    visibility_timeout_seconds: float
    max_batch_size: int = 1


def make_celery(options: CeleryOptions) -> Celery:
    """A celery app for easel's job queue (the API's and the worker's are built alike)."""
    app = Celery("easel", broker=options.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_pool="solo",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_ignore_result=True,
        # One (disabled) result backend for the process: celery otherwise builds one per
        # thread on its first send_task, and every new request thread of the API paid it.
        result_backend_thread_safe=True,
        task_default_queue=options.queue,
        task_queues=[
            Queue(  # type: ignore[no-untyped-call]
                options.queue,
                routing_key=options.queue,
                queue_arguments={"x-max-priority": CLASSES - 1},  # RabbitMQ
            )
        ],
        broker_transport_options={
            # Redis: a message not acknowledged this long is given to another worker
            "visibility_timeout": options.visibility_timeout_seconds,
            # Redis: one list per class, read highest class first
            "priority_steps": list(range(CLASSES)),
            "queue_order_strategy": "priority",
            "sep": ":",
        },
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
    )
    return app


def _message_priority(broker_url: str, klass: int) -> int:
    # Redis serves priority 0 first; RabbitMQ serves the highest number first
    return (CLASSES - 1 - klass) if broker_url.startswith(("amqp", "pyamqp")) else klass


class HandOvers(QueuedWriter[str]):
    """Records that published jobs are the broker's, in batches off the request path.

    The record only tells `requeue_orphans` which stored jobs never reached the
    broker: a request need not wait for it (one round trip of a job's dispatch),
    and under load one UPDATE covers every job published in the interval.
    """

    def __init__(self, store: JobStore, *, owner: str, interval: float = HAND_OVER_SECONDS) -> None:
        super().__init__(
            interval,
            name="easel-hand-over",
            log=log,
            lost="%d published jobs not recorded as the broker's (they may be published twice)",
        )
        self._store = store
        self._owner = owner

    def write(self, items: list[str]) -> None:
        self._store.hand_over(items, owner=self._owner, to=BROKER)


class CeleryExecutor:
    """The API side: queue job ids on the broker; cancel through pub/sub."""

    def __init__(
        self,
        app: Celery,
        options: CeleryOptions,
        store: JobStore,
        notifier: RedisJobNotifier,
        batches: BatchIndex,
        *,
        owner: str,
    ) -> None:
        self._app = app
        self._options = options
        self._store = store
        self._notifier = notifier
        self._batches = batches
        self._owner = owner
        self._requeuer = Periodic(self.requeue_orphans, REQUEUE_AFTER_SECONDS)
        self._hand_overs = HandOvers(store, owner=owner)

    async def start(self) -> None:
        # built now, not by the first burst of requests, each of which built one before
        # the first was done (0.6 s of CPU in a profile of an API's first 128 jobs)
        self._app.backend  # noqa: B018 - the property builds it
        self._notifier.start()
        self._requeuer.start()
        self._hand_overs.start()

    async def stop(self) -> None:
        await anyio.to_thread.run_sync(self._requeuer.stop)
        await anyio.to_thread.run_sync(self._hand_overs.close)
        await anyio.to_thread.run_sync(self._notifier.stop)

    def submit(self, job_id: str, *, organization_id: str, batch_key: str, open_jobs: int) -> None:
        if self._options.max_batch_size > 1:
            self._batches.add(batch_key, job_id)
        self._publish(job_id, batch_key, open_jobs)
        # from now on the broker holds it; until that is recorded, requeue_orphans may
        # publish it again (only if this process dies first: see HandOvers)
        self._hand_overs.add(job_id)

    def requeue_orphans(self, now: datetime | None = None) -> int:
        """Publish the jobs whose API process died between storing and publishing them.

        A second message for a job is harmless: only one worker can mark it running.
        """
        now = now or datetime.now(UTC)
        orphans = self._store.queued_not_held_by(
            BROKER, now - timedelta(seconds=REQUEUE_AFTER_SECONDS)
        )
        for job_id, organization_id, owner in orphans:
            log.warning("publishing job %s, which its API process stored but never queued", job_id)
            # its batch key died with that process: it runs alone
            self._publish(job_id, job_id, self._store.open_count(organization_id))
            self._store.hand_over([job_id], owner=owner, to=BROKER)
        return len(orphans)

    def _publish(self, job_id: str, batch_key: str, open_jobs: int) -> None:
        klass = priority_class(open_jobs)
        try:
            self._app.send_task(
                TASK,
                args=(job_id, batch_key),
                queue=self._options.queue,
                priority=_message_priority(self._options.broker_url, klass),
                retry=True,
                retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2},
            )
        except (OperationalError, KombuError, OSError) as exc:
            log.warning("the broker refused job %s: %s", job_id, exc)
            raise Overloaded(
                "the job queue is unavailable; try again shortly",
                retry_after=BROKER_RETRY_AFTER,
                name="broker_unavailable",
            ) from exc

    def cancel(self, job_id: str) -> bool:
        # the store flag is already set; this only makes the holding worker stop sooner
        self._notifier.cancel(job_id)
        return False


class JobConsumer:
    """What a worker does with one message: drain its batch, run it, settle every job."""

    def __init__(
        self,
        runner: JobRunner,
        store: JobStore,
        batches: BatchIndex,
        *,
        max_batch_size: int,
    ) -> None:
        self._runner = runner
        self._store = store
        self._batches = batches
        self._max_batch_size = max_batch_size
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def flush(self) -> None:
        self._runner.flush()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            event = self._running.get(job_id)
        if event is not None:
            event.set()

    def handle(self, job_id: str, batch_key: str) -> None:
        # batching off: the API indexes nothing, so there is nothing to drain (and no
        # Redis round trip to wait for before the job starts)
        extra = (
            self._batches.drain(batch_key, job_id, self._max_batch_size - 1)
            if self._max_batch_size > 1
            else []
        )
        ids = [job_id, *extra]
        events = {i: threading.Event() for i in ids}
        with self._lock:
            self._running.update(events)
        try:
            self._runner.run(ids, cancel=events)
        except Exception:  # settle what the runner could not, then acknowledge the message
            log.exception("worker failed on a batch")
            for i in ids:
                view = self._store.get(i)
                # ours, or the message's own job never started; drained ones keep their message
                if view is not None and (i == job_id or view.status == "running"):
                    self._store.fail(
                        i,
                        status=500,
                        name="server_error",
                        message="The generation failed unexpectedly.",
                        owner=None if view.status == "queued" else self._runner.owner,
                    )
        finally:
            with self._lock:
                for i in ids:
                    self._running.pop(i, None)


class _PromptShutdown(bootsteps.StartStopStep):  # type: ignore[misc]
    """Wakes the worker's event loop every second, so an idle worker stops at once on SIGTERM.

    Celery looks for a shutdown request between two polls of its event loop, and a poll
    with no timer due lasts up to 10 s: an idle worker on RabbitMQ took 10 s to stop.
    """

    requires = ("celery.worker.components:Hub",)

    def start(self, worker: Any) -> None:
        if worker.hub is not None:
            worker.hub.call_repeatedly(1.0, _nothing)


def _nothing() -> None:
    pass


class CeleryWorker:
    """`easel worker`: consume the job queue until told to stop (SIGTERM: warm shutdown)."""

    def __init__(
        self,
        app: Celery,
        options: CeleryOptions,
        consumer: JobConsumer,
        notifier: RedisJobNotifier,
        leases: LeaseKeeper,
        *,
        hostname: str,
        preload: Callable[[], None] = lambda: None,
    ) -> None:
        self._app = app
        self._preload = preload
        self._options = options
        self._consumer = consumer
        self._notifier = notifier
        self._leases = leases
        self._hostname = hostname

        app.steps["worker"].add(_PromptShutdown)

        @app.task(name=TASK, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
        def run_job(job_id: str, batch_key: str) -> None:
            consumer.handle(job_id, batch_key)

    def run(self, *, loglevel: str = "INFO") -> int:
        self._preload()  # load models before taking jobs: the first job pays nothing extra
        self._notifier.on_cancel(self._consumer.cancel)
        self._notifier.start(changes=False)  # nothing waits on a job here
        self._leases.start()
        try:
            worker = self._app.Worker(
                hostname=self._hostname,
                queues=[self._options.queue],
                loglevel=loglevel,
                without_gossip=True,
                without_mingle=True,
                without_heartbeat=True,
                quiet=True,
            )
            worker.start()
            return int(worker.exitcode or 0)
        finally:
            self._consumer.flush()
            self._leases.stop()
            self._notifier.stop()
