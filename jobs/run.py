"""One run of a job on a worker: every write it makes goes through the atomic emit script with
this run's fencing token, so a cancelled job or a job taken over by a redelivered copy refuses
the write (and the run stops) instead of interleaving with the new owner.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from redis import Redis

from jobs.errors import JobClosed
from jobs.events import EMIT_LUA, Change, ErrorInfo, JobEvent, failure, parse_emit_result, prepare_emit
from jobs.names import ACTIVE_STATES, FIRST_STAGE, EventType, JobState, Keys, Stage
from jobs.outcome import Outcome
from jobs.records import JobRecord

WORKER_LOST = "WORKER_LOST"


class JobRun:
    def __init__(self, redis: Redis, keys: Keys, log_max: int, job_id: str) -> None:
        self._redis = redis
        self._keys = keys
        self._log_max = log_max
        self._script = redis.register_script(EMIT_LUA)
        self.job_id = job_id
        self.token = uuid.uuid4().hex

    def load(self) -> JobRecord | None:
        raw = self._redis.hgetall(self._keys.job(self.job_id))
        return JobRecord.from_hash(raw) if raw else None

    def start(self, max_redeliveries: int) -> JobRecord | None:
        """Claim the job; None when there is nothing to do (gone, terminal, or given up on)."""
        record = self.load()
        if record is None or record.state.terminal:
            return None
        if record.state is JobState.RUNNING and record.redeliveries >= max_redeliveries:
            # Its worker died while running it this many times: the job itself is the likely cause.
            self._emit_unfenced_failure(
                ErrorInfo(WORKER_LOST, f"the job's worker was lost {record.redeliveries + 1} times")
            )
            return None
        try:
            self._emit(
                Change(
                    type=EventType.STARTED,
                    require=[JobState.QUEUED, JobState.RETRYING, JobState.RUNNING],
                    state=JobState.RUNNING,
                    progress=0,
                    stage=FIRST_STAGE[record.kind].value,
                    message="Started"
                    if record.attempts == 0
                    else f"Started again (attempt {record.attempts + 1})",
                    fields={"runner": self.token},
                    incr={"attempts": 1},
                    reset_output=True,
                    count_redelivery=True,
                )
            )
        except JobClosed:
            return None
        return self.load()

    def progress(self, progress: int, stage: Stage, message: str) -> JobEvent:
        return self._running(EventType.PROGRESS, progress=progress, stage=stage.value, message=message)

    def output(self, delta: str, progress: int) -> JobEvent:
        return self._running(EventType.OUTPUT, progress=progress, delta=delta)

    def retrying(self, error: ErrorInfo, delay: float, attempt: int) -> JobEvent:
        message = f"{error.message}; retry {attempt} in {delay:.1f}s"
        return self._running(EventType.RETRYING, state=JobState.RETRYING, error=error, message=message)

    def succeed(self, outcome: Outcome | Mapping[str, Any]) -> JobEvent:
        """The job's success, with its outputs written in the same atomic step."""
        if not isinstance(outcome, Outcome):
            outcome = Outcome(outcome)
        return self._running(
            EventType.SUCCEEDED,
            state=JobState.SUCCEEDED,
            progress=100,
            stage=Stage.DONE.value,
            message=outcome.message,
            fields={"result": json.dumps(outcome.result)},
            writes=outcome.writes,
        )

    def fail(self, error: ErrorInfo) -> JobEvent:
        return self._emit(failure(error, require=[JobState.RUNNING], runner=self.token))

    def _emit_unfenced_failure(self, error: ErrorInfo) -> None:
        with contextlib.suppress(JobClosed):
            self._emit(failure(error, require=ACTIVE_STATES))

    def _running(self, type_: EventType, **changes: object) -> JobEvent:
        """A write of this run, valid only while the job is RUNNING and still this run's."""
        change = Change(type=type_, require=[JobState.RUNNING], runner=self.token, **changes)  # type: ignore[arg-type]
        return self._emit(change)

    def _emit(self, change: Change) -> JobEvent:
        keys, args = prepare_emit(self._keys, self.job_id, change, self._log_max)
        return parse_emit_result(self.job_id, self._script(keys=keys, args=args))
