"""One run of a job on a worker: every write it makes goes through the atomic emit script with
this run's fencing token, so a cancelled job or a job taken over by a redelivered copy refuses
the write (and the run stops) instead of interleaving with the new owner.

Redis may go away under a run (a restart, a network blip). A write whose connection broke may or
may not have been applied: the script is atomic, so it was applied whole or not at all, and the
log tells which (the event right after the run's last one). The run waits for Redis (bounded by
`retry_seconds`) and re-sends only a write that was not applied, so an output chunk is never
doubled. While it runs, the run holds the job's lease (jobs/work/lease.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid

from redis import Redis
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from jobs.core.errors import JobClosed
from jobs.core.events import (
    EMIT_LUA,
    READ_LUA,
    Change,
    ErrorInfo,
    JobEvent,
    failure,
    parse_emit_result,
    prepare_emit,
)
from jobs.core.names import ACTIVE_STATES, FIRST_STAGE, EventType, JobState, Keys, Stage
from jobs.core.outcome import Outcome
from jobs.core.records import JobRecord
from jobs.work.lease import Lease, LeaseHeld
from jobs.work.metrics import worker_metrics

WORKER_LOST = "WORKER_LOST"
# What a write that may not have reached Redis raises: the outcome is unknown until Redis answers.
LOST_CONNECTION = (ConnectionError, TimeoutError, BusyLoadingError)

log = logging.getLogger(__name__)


class JobRun:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        log_max: int,
        job_id: str,
        *,
        once: Redis | None = None,
        lease_seconds: float = 10.0,
        retry_seconds: float = 0.0,
    ) -> None:
        """`redis` serves reads and may retry on its own; `once` (default: `redis`) sends the
        emit script and must not, since a blind retry of a write that was applied would apply it
        twice. For `retry_seconds` after a lost connection, a write is checked and re-sent."""
        self._redis = redis
        self._keys = keys
        self._log_max = log_max
        self._script = (once or redis).register_script(EMIT_LUA)
        self._read = redis.register_script(READ_LUA)
        self._retry_seconds = retry_seconds
        self._last_seq = 0
        self.job_id = job_id
        self.kind = "unknown"  # the job's kind once loaded, for the metrics
        self.token = uuid.uuid4().hex
        self.lease = Lease(redis, keys, job_id, lease_seconds)

    def load(self) -> JobRecord | None:
        raw = self._redis.hgetall(self._keys.job(self.job_id))
        return JobRecord.from_hash(raw) if raw else None

    def start(self, max_redeliveries: int) -> JobRecord | None:
        """Claim the job; None when there is nothing to do (gone, terminal, or given up on).
        Raises LeaseHeld when the job is RUNNING under another run's live lease: this copy of the
        task came from a broker reconnect, not from a lost worker."""
        record = self.load()
        if record is None or record.state.terminal:
            return None
        self._last_seq = record.seq
        self.kind = record.kind.value
        if record.state is JobState.RUNNING and (left := self.lease.left()) > 0:
            raise LeaseHeld(self.job_id, left)
        if record.state is JobState.RUNNING and record.redeliveries >= max_redeliveries:
            # Its worker died while running it this many times: the job itself is the likely cause.
            self._emit_unfenced_failure(
                ErrorInfo(WORKER_LOST, f"the job's worker was lost {record.redeliveries + 1} times")
            )
            return None
        try:
            started = self._emit(
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
        metrics = worker_metrics()
        if record.attempts == 0:
            metrics.queue_wait.labels(self.kind).observe(max(0.0, started.at - record.created_at))
        if record.state is JobState.RUNNING:  # its worker was lost while running it
            metrics.redeliveries.labels(self.kind).inc()
        self.lease.renew(self.token)
        return self.load()

    def progress(self, progress: int, stage: Stage, message: str) -> JobEvent:
        return self._running(EventType.PROGRESS, progress=progress, stage=stage.value, message=message)

    def output(self, delta: str, progress: int) -> JobEvent:
        return self._running(EventType.OUTPUT, progress=progress, delta=delta)

    def retrying(self, error: ErrorInfo, delay: float, attempt: int) -> JobEvent:
        message = f"{error.message}; retry {attempt} in {delay:.1f}s"
        event = self._running(EventType.RETRYING, state=JobState.RETRYING, error=error, message=message)
        worker_metrics().retries.labels(self.kind).inc()
        # The retry's task is due after `delay`: the job is held that long, not swept as lost.
        self.lease.renew(self.token, extra=delay, retrying=True)
        return event

    def succeed(self, outcome: Outcome) -> JobEvent:
        """The job's success, with its outputs written in the same atomic step."""
        event = self._running(
            EventType.SUCCEEDED,
            state=JobState.SUCCEEDED,
            progress=100,
            stage=Stage.DONE.value,
            message=outcome.message,
            fields={"result": json.dumps(outcome.result)},
            writes=outcome.writes,
        )
        self.count_end(JobState.SUCCEEDED)
        return event

    def fail(self, error: ErrorInfo) -> JobEvent:
        event = self._emit(failure(error, require=[JobState.RUNNING], runner=self.token))
        self.count_end(JobState.FAILED, error.code)
        return event

    def count_end(self, state: JobState, code: str = "") -> None:
        """The job ended (as this run wrote, or as it found when stopped) in `state`."""
        worker_metrics().jobs.labels(self.kind, state.value, code).inc()

    def _emit_unfenced_failure(self, error: ErrorInfo) -> None:
        with contextlib.suppress(JobClosed):
            self._emit(failure(error, require=ACTIVE_STATES))
            self.count_end(JobState.FAILED, error.code)

    def _running(self, type_: EventType, **changes: object) -> JobEvent:
        """A write of this run, valid only while the job is RUNNING and still this run's."""
        change = Change(type=type_, require=[JobState.RUNNING], runner=self.token, **changes)  # type: ignore[arg-type]
        return self._emit(change)

    def _emit(self, change: Change) -> JobEvent:
        keys, args = prepare_emit(self._keys, self.job_id, change, self._log_max)
        deadline = time.monotonic() + self._retry_seconds
        while True:
            try:
                event = parse_emit_result(self.job_id, self._script(keys=keys, args=args))
                break
            except LOST_CONNECTION as e:
                if time.monotonic() >= deadline:
                    raise
                log.warning("job %s: Redis connection lost during a write (%s); checking it", self.job_id, e)
                applied = self._applied(change)  # waits for Redis (the reading client retries)
                if applied is not None:
                    event = applied
                    break
        self._last_seq = event.seq
        return event

    def _applied(self, change: Change) -> JobEvent | None:
        """The event `change` made, if it was applied before the connection broke. Nothing but
        this run writes between its events while it holds the job, except a cancel or a takeover
        (which make its next write fail its guards): so it can only be the next event."""
        keys = [self._keys.job(self.job_id), self._keys.job_log(self.job_id)]
        reply = self._read(keys=keys, args=[self._last_seq])
        if not reply or not reply[1]:
            return None
        event = JobEvent.from_json(reply[1][0])
        same = (event.type, event.message, event.delta) == (change.type, change.message, change.delta)
        return event if event.seq == self._last_seq + 1 and same else None
