"""What a task body needs on a worker: one Redis client, the key names, the settings and the
engine, made once per worker process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

from redis import Redis

from jobs.engines import Engine, select_engine
from jobs.names import Keys
from jobs.run import JobRun
from settings import Settings, get_settings


@dataclass
class WorkerContext:
    settings: Settings
    redis: Redis

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)

    @cached_property
    def engine(self) -> Engine:
        return select_engine(self.settings)

    def run(self, job_id: str) -> JobRun:
        return JobRun(self.redis, self.keys, self.settings.event_log_max, job_id)


@cache
def worker_context() -> WorkerContext:
    settings = get_settings()
    return WorkerContext(settings, Redis.from_url(settings.redis_url, health_check_interval=30))
