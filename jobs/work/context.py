"""What a task body needs on a worker: Redis clients, the key names, the settings and the
engine, made once per worker process."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from jobs.core.names import Keys
from jobs.core.replication import ReplicaAcks
from jobs.engines import Engine, select_engine
from jobs.work.run import JobRun
from settings import Settings, get_settings

# Backoff between reconnection attempts: quick at first (a blip), then once a second.
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
# A sentinel that does not answer this fast is skipped for the next one.
SENTINEL_TIMEOUT_SECONDS = 1.0


@dataclass
class WorkerContext:
    settings: Settings
    # Retries a lost connection for about `redis_retry_seconds` (a restart, a failover, a blip).
    redis: Redis
    # Never retries on its own: the emit script, whose retry JobRun decides (see jobs/work/run.py).
    once: Redis
    # Shared by the process's runs: a replica found silent by one is not waited for by the others.
    acks: ReplicaAcks

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)

    @cached_property
    def engine(self) -> Engine:
        return select_engine(self.settings)

    def run(self, job_id: str) -> JobRun:
        return JobRun(
            self.redis,
            self.keys,
            self.settings.event_log_max,
            job_id,
            once=self.once,
            lease_seconds=self.settings.job_lease_seconds,
            retry_seconds=self.settings.redis_retry_seconds,
            hold_seconds=self.settings.stream_flush_ms / 1000,
            acks=self.acks,
        )


def retrying_redis(settings: Settings) -> Redis:
    """A client whose commands ride out a Redis restart of up to `redis_retry_seconds`: each
    lost connection (refused, reset, timed out, or Redis still loading its AOF) is retried on a
    fresh one with exponential backoff."""
    retries = math.ceil(settings.redis_retry_seconds / BACKOFF_CAP_SECONDS) + 5
    return worker_redis(
        settings,
        retry=Retry(ExponentialBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS), retries),
        retry_on_error=[ConnectionError, TimeoutError, BusyLoadingError],
    )


def worker_redis(settings: Settings, **options: Any) -> Redis:
    """A client of the primary: REDIS_URL's, or the one REDIS_SENTINELS name, asked again on each
    new connection, so that a client whose connection died with the old primary reconnects to
    the promoted replica (and one still talking to a demoted primary is told to, READONLY)."""
    options = {"socket_connect_timeout": 2, "socket_keepalive": True, "health_check_interval": 30, **options}
    sentinels = settings.redis_sentinel_addresses
    if not sentinels:
        return Redis.from_url(settings.redis_url, **options)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        sentinels,
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_SECONDS},
        **settings.redis_primary_kwargs,
    )
    client: Redis = sentinel.master_for(settings.redis_sentinel_master, **options)  # type: ignore[no-untyped-call]
    return client


_MAKING = threading.Lock()


def worker_context() -> WorkerContext:
    """The process's one context. The threads pool's first jobs ask for it in several threads at
    once: made under a lock, or each would make Redis pools of its own."""
    with _MAKING:
        return _made_once()


@cache
def _made_once() -> WorkerContext:
    settings = get_settings()
    once = worker_redis(settings, retry=Retry(ExponentialBackoff(), 0))
    acks = ReplicaAcks(settings.replicas_to_wait_for, settings.redis_wait_ms)
    return WorkerContext(settings, retrying_redis(settings), once, acks)
