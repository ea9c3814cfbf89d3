"""Events written as a worker writes them (the emit script of jobs/core/events.py), for the benches
that leave the worker out: a running job per `create_running`, then its OUTPUT events."""

from __future__ import annotations

import uuid

import redis

from jobs.core.events import EMIT_LUA, Change, parse_emit_result, prepare_emit
from jobs.core.names import EventType, JobState, Keys, Stage
from jobs.core.replication import run_and_wait
from settings import Settings


class EventWriter:
    def __init__(self, url: str, prefix: str, owner: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(EMIT_LUA)
        self.keys = Keys(prefix)
        self.owner = owner
        self.log_max = Settings(redis_url=url, key_prefix=prefix).event_log_max
        self.runner = uuid.uuid4().hex

    def emit(self, job_id: str, change: Change) -> None:
        k, a = prepare_emit(self.keys, job_id, change, self.log_max)
        parse_emit_result(job_id, self.script(keys=k, args=a))

    def emit_replicated(self, job_id: str, change: Change, replicas: int, timeout_ms: int) -> int:
        """As a worker writes with REDIS_WAIT_REPLICAS (jobs/work/run.py): the script and WAIT.
        How many replicas acknowledged it."""
        k, a = prepare_emit(self.keys, job_id, change, self.log_max)
        reply, acknowledged = run_and_wait(self.client, self.script, k, a, replicas, timeout_ms)
        parse_emit_result(job_id, reply)
        return acknowledged

    def create_running(self) -> str:
        """A job of `owner`, created and started by this writer's run."""
        job_id = str(uuid.uuid4())
        fields: dict[str, str | int] = {"id": job_id, "kind": "IMPROVE_CV", "owner": self.owner}
        fields.update(input="{}", attempts=0)
        created = Change(
            type=EventType.CREATED,
            require=[None],
            state=JobState.QUEUED,
            progress=0,
            stage=Stage.QUEUED.value,
            message="Job queued",
            fields=fields,
        )
        self.emit(job_id, created)
        started = Change(
            type=EventType.STARTED,
            require=[JobState.QUEUED],
            state=JobState.RUNNING,
            progress=0,
            stage=Stage.ANALYZING.value,
            fields={"runner": self.runner},
        )
        self.emit(job_id, started)
        return job_id

    def output_change(self, progress: int, delta: str) -> Change:
        return Change(
            type=EventType.OUTPUT,
            require=[JobState.RUNNING],
            runner=self.runner,
            progress=progress,
            delta=delta,
        )

    def output(self, job_id: str, progress: int, delta: str) -> None:
        self.emit(job_id, self.output_change(progress, delta))

    def close(self) -> None:
        self.client.close()
