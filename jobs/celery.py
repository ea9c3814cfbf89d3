"""The Celery application: broker and result backend on the one Redis (or the primary Redis
Sentinel names), JSON only (C8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from celery import Celery
from celery.signals import (
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from jobs.core import logs
from jobs.core.dispatch import PRIORITY_STEPS, queues_best_first
from jobs.core.names import TASK_NAMES, Keys
from settings import Settings, get_settings

RETENTION_TASK = "jobs.apply_retention"


def create_celery(settings: Settings) -> Celery:
    keys = Keys(settings.key_prefix)
    redis = redis_location(settings)
    tasks = ["jobs.work.tasks", "jobs.work.retention"]
    app = Celery("cvimprover", broker=redis.url, backend=redis.url, include=tasks)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Our own job record is what clients read; Celery's result meta is not needed, and its
        # SET+PUBLISH per state would double the Redis traffic.
        task_ignore_result=True,
        task_default_queue=keys.queue,
        task_default_exchange=keys.queue,
        task_default_routing_key=keys.queue,
        # Jobs go to their plan's queue at their turn (jobs/core/dispatch.py says how the order
        # holds). A worker started without -Q consumes all of these, best plan first.
        task_queues={name: {"exchange": name, "routing_key": name} for name in queues_best_first(keys)},
        # C6: a task is acknowledged only when it ends, so a worker that dies mid-job leaves it
        # to be redelivered; one prefetched task per process keeps the others free for peers.
        # Unacknowledged tasks count against the prefetch limit (concurrency x 1), so a worker holds
        # at most one task per pool process, each running or handed to an idle process: none waits
        # in a worker while a better one waits in Redis (a countdown's re-send is held beside them).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # The backstop under the extraction sandbox's own limits: a pool process that grew past
        # this (in KiB, as Celery counts) is replaced once its task ends.
        worker_max_memory_per_child=settings.worker_max_memory_per_child_mb * 1024,
        task_time_limit=settings.job_time_limit_seconds + 30,
        task_soft_time_limit=settings.job_time_limit_seconds,
        # C11: Redis may restart. The consumer reconnects for as long as it takes (a worker that
        # gave up would strand its queue), and tasks already running go on meanwhile: their own
        # Redis writes retry (jobs/work/context.py), and the copy a reconnect restores waits for their
        # lease (jobs/work/lease.py) instead of starting them over.
        broker_connection_retry_on_startup=True,
        # Retention (jobs/work/retention.py): `celery -A jobs beat` sends the sweep; nothing to send
        # while RETENTION_DAYS is unset (keep everything).
        beat_schedule=(
            {"retention": {"task": RETENTION_TASK, "schedule": settings.retention_interval_seconds}}
            if settings.retention_days is not None
            else {}
        ),
        # kombu's Redis transport with a guard against a crash on reconnect (jobs/work/broker.py).
        broker_transport=redis.transport,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={
            **redis.options,
            "visibility_timeout": settings.broker_visibility_timeout,
            "unacked_restore_interval": settings.broker_restore_interval,
            "unacked_restore_throttle": 1,
            "global_keyprefix": f"{settings.key_prefix}:celery:",
            # A list per priority (jobs/core/dispatch.py: the plans' bands), served in this order.
            "priority_steps": PRIORITY_STEPS,
            "queue_order_strategy": "priority",
            # A dead or half-open connection is noticed in seconds, not at the next command.
            "socket_keepalive": True,
            "socket_connect_timeout": 5,
            "health_check_interval": 10,
            # Not `retry_on_timeout`: redis-py would then reconnect kombu's pub/sub connection
            # (broadcasts) behind kombu's back, and the consumer, polling the old socket, would
            # stop taking tasks (tests/test_listener.py kills that connection).
        },
        result_backend_transport_options={
            **redis.options,
            "global_keyprefix": f"{settings.key_prefix}:celery:",
        },
        worker_hijack_root_logger=False,
        # Flower (and `celery events`) see every task: sent by the API, received, started, ended.
        # What they show is the task's name (its job kind) and its argument (the job id) only.
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


@dataclass(frozen=True)
class RedisLocation:
    """Where the broker and the result backend are: a URL, the kombu transport that reads it, and
    the options (for both) that go with it."""

    url: str
    transport: str
    options: dict[str, Any]


def redis_location(settings: Settings) -> RedisLocation:
    """REDIS_URL; or, with REDIS_SENTINELS, `sentinel://host:port/db;sentinel://...` and the
    primary's name: kombu and Celery's result backend then ask the sentinels where it is."""
    sentinels = settings.redis_sentinel_addresses
    if not sentinels:
        return RedisLocation(settings.redis_url, "jobs.work.broker:Transport", {})
    primary = settings.redis_primary_kwargs
    password = primary.get("password")
    userinfo = f"{quote(primary.get('username') or '')}:{quote(password)}@" if password else ""
    url = ";".join(f"sentinel://{userinfo}{host}:{port}/{primary['db']}" for host, port in sentinels)
    options = {
        "master_name": settings.redis_sentinel_master,
        # A sentinel that does not answer this fast is skipped for the next one.
        "sentinel_kwargs": {"socket_timeout": 1.0},
    }
    return RedisLocation(url, "jobs.work.broker:SentinelTransport", options)


celery = create_celery(get_settings())


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    # In the worker's main process only (the API imports this module too, and sends no sweeps).
    from jobs.work.context import retrying_redis
    from jobs.work.sweeper import Sweeper

    settings = get_settings()
    sweeper = Sweeper(celery, retrying_redis(settings), settings)
    sweeper.start()
    worker_shutting_down.connect(lambda **_: sweeper.stop(), weak=False)


@setup_logging.connect
def _configure_logs(loglevel: int | str | None = None, **_: Any) -> None:
    # Connected, this replaces Celery's own setup: its records (the worker's, the tasks') go
    # through jobs/core/logs.py like the API's, in LOG_FORMAT.
    logs.configure(get_settings(), loglevel or "INFO")


_KINDS = {name: kind.value for kind, name in TASK_NAMES.items()}


@task_prerun.connect
def _enter_job_log_context(task_id: str, task: Any, **_: Any) -> None:
    # A fresh context per task: pool threads are reused, and the last task's ids must not linger.
    request_id = task.request.get(logs.REQUEST_ID_HEADER)
    logs.enter(job_id=task_id, job_kind=_KINDS.get(task.name), request_id=request_id)


@task_postrun.connect
def _leave_job_log_context(**_: Any) -> None:
    logs.leave()


@celeryd_init.connect
def _log_from_the_start(instance: Any, **_: Any) -> None:
    # Before the worker's first warnings (setup_logging comes later): they are records too.
    settings = get_settings()
    logs.configure(settings)
    # The banner is printed, not logged: a pipeline reading JSON lines would choke on it.
    if settings.log_format == "json":
        instance.quiet = True


@worker_init.connect
def _export_metrics(**_: Any) -> None:
    # In the worker's main process, before the pool starts (jobs/work/metrics.py says why).
    settings = get_settings()
    if not settings.worker_metrics_port:
        return
    from jobs.work.metrics import Exporter

    exporter = Exporter(settings.worker_metrics_host, settings.worker_metrics_port)
    worker_shutdown.connect(lambda **_: exporter.stop(), weak=False)
