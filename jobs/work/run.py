"""One run of a job on a worker: every write it makes goes through the atomic emit script with
this run's fencing token, so a cancelled job or a job taken over by a redelivered copy refuses
the write (and the run stops) instead of interleaving with the new owner.

Redis may go away under a run (a restart, a network blip). A write whose connection broke may or
may not have been applied: the script is atomic, so it was applied whole or not at all, and the
log tells which (the event right after the run's last one). The run waits for Redis (bounded by
`retry_seconds`) and re-sends only a write that was not applied, so an output chunk is never
doubled. While it runs, the run holds the job's lease (jobs/work/lease.py).

Passing steps are folded (issue 13, point 5). Every event costs a script round trip here, a
PUBLISH to every subscriber and a frame per subscriber in every API, and an IMPROVE_CV job used to
write several progress steps that the next event replaced within a millisecond or two: the
analysis's "Analysing the CV" and its score, "Rewriting for ...", whose first OUTPUT follows as
soon as the model answers, and "Generated N characters", followed at once by SUCCEEDED. A step
the work marks as passing (`progress(..., passing=True)`) is held, not written, for at most
`hold_seconds` (STREAM_FLUSH_MS, the pace of output events), and then:
- the next step that comes within that time replaces it: its progress and stage are the same or
  further on, and a message that would have been on screen for a few milliseconds is dropped;
- the next other event of the run carries it: the event's own progress, stage and message win,
  and where it has none (an OUTPUT has no message, a FAILED no progress) the held step's fill in,
  so the first OUTPUT says "Rewriting for ..." and a failure says where the job was;
- when its time is up with nothing after it (a model slow to answer, a long analysis), it is
  written as it is, from the process's deadline thread (jobs/work/deadlines.py), whatever the
  job's own thread is waiting for. A write refused then (a cancel, a takeover) stops the run at
  its next step.
So a client sees every step that lasts STREAM_FLUSH_MS or longer, no later than that, and in
order; the progress it shows never goes back (a held step only moves it forward); and since a
step is folded before it is written, the log, the record and the live stream stay one (C2): seq
has no gaps, the terminal event is the last, and a replay from the log is what was live. Steps
that stop a job when it is cancelled (a page read) are not passing, and nor are the last steps
of a job, whose message is its outcome (an analysis's score).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import replace

from redis import Redis
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from jobs.core.errors import JobClosed, Superseded
from jobs.core.events import (
    EMIT_LUA,
    READ_LUA,
    Change,
    ErrorInfo,
    JobEvent,
    as_text,
    failure,
    parse_emit_result,
    prepare_emit,
)
from jobs.core.names import ACTIVE_STATES, FIRST_STAGE, EventType, JobState, Keys, Stage
from jobs.core.outcome import Outcome
from jobs.core.records import JobRecord
from jobs.core.replication import ReplicaAcks
from jobs.work.deadlines import SCHEDULE, Deadline
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
        hold_seconds: float = 0.0,
        acks: ReplicaAcks | None = None,
    ) -> None:
        """`redis` serves reads and may retry on its own; `once` (default: `redis`) sends the
        emit script and must not, since a blind retry of a write that was applied would apply it
        twice. For `retry_seconds` after a lost connection, a write is checked and re-sent. A
        passing step waits up to `hold_seconds` to be folded (0: written at once). With `acks`,
        a write is made once replicas have it (jobs/core/replication.py; default: no wait)."""
        self._redis = redis
        self._keys = keys
        self._log_max = log_max
        self._once = once or redis
        self._script = self._once.register_script(EMIT_LUA)
        self._acks = acks or ReplicaAcks(replicas=0, timeout_ms=0)
        self._read = redis.register_script(READ_LUA)
        self._retry_seconds = retry_seconds
        self._last_seq = 0
        self.job_id = job_id
        self.kind = "unknown"  # the job's kind once loaded, for the metrics
        self.token = uuid.uuid4().hex
        self.lease = Lease(redis, keys, job_id, lease_seconds)
        self._hold_seconds = hold_seconds
        # The job's thread and the deadline thread both write: one write at a time, in seq order.
        self._writing = threading.Lock()
        self._held: Change | None = None
        self._held_until: Deadline | None = None
        # A held step's write that was refused, or whose connection broke (it may or may not have
        # been applied): the run stops at its next step, as if that write had been its own.
        self._refused: Exception | None = None

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

    def progress(self, progress: int, stage: Stage, message: str, *, passing: bool = False) -> None:
        """A step of the work; a passing one may be folded into what follows (see above). Raises
        JobClosed or Superseded when the run must stop, as every write of the run does."""
        change = self._change(EventType.PROGRESS, progress=progress, stage=stage.value, message=message)
        if not passing or self._hold_seconds <= 0:
            self._emit(change)
            return
        with self._writing:
            self._stop_if_refused()
            if self._held is None:
                self._held = change
                self._held_until = SCHEDULE.after(self._hold_seconds, self._write_held)
            else:
                self._held = _fold(self._held, change)

    def ensure_still_running(self) -> None:
        """Before a step that costs money (the model's call): raise JobClosed or Superseded if the job
        was cancelled or taken over meanwhile. A held step writes nothing that would have told."""
        with self._writing:
            self._stop_if_refused()
        state, runner = self._redis.hmget(self._keys.job(self.job_id), ["state", "runner"])
        now = as_text(state) if state is not None else "gone"
        if now != JobState.RUNNING.value:
            raise JobClosed(f"job {self.job_id} is {now}", state=now)
        if runner is None or as_text(runner) != self.token:
            raise Superseded(f"job {self.job_id} was taken over by another runner")

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
        return self._emit(self._change(type_, **changes))

    def _change(self, type_: EventType, **changes: object) -> Change:
        """A write of this run, valid only while the job is RUNNING and still this run's."""
        return Change(type=type_, require=[JobState.RUNNING], runner=self.token, **changes)  # type: ignore[arg-type]

    def _emit(self, change: Change) -> JobEvent:
        with self._writing:
            self._stop_if_refused()
            if self._held is not None:
                change = _fold(self._held, change)
                self._let_go()
            return self._write(change)

    def _stop_if_refused(self) -> None:
        """Under `_writing`: the run's stop that a held step's write met on the deadline thread."""
        if self._refused is not None:
            raise self._refused

    def _let_go(self) -> None:
        if self._held_until is not None:
            self._held_until.cancel()
        self._held, self._held_until = None, None

    def _write_held(self) -> None:
        """A held step whose time is up, from the deadline thread."""
        with self._writing:
            held = self._held
            self._let_go()
            if held is None:
                return
            try:
                self._write(held)
            except (JobClosed, Superseded) as refused:
                self._refused = refused
            except LOST_CONNECTION as e:
                # Applied or not, the run's seq is no longer known here: its next write would take
                # the held step for its own (`_applied`) and could write twice. It stops instead,
                # as when its own write loses Redis for longer than REDIS_RETRY_SECONDS.
                log.warning("job %s: a held step was not written (%s)", self.job_id, e)
                self._refused = e

    def _write(self, change: Change) -> JobEvent:
        keys, args = prepare_emit(self._keys, self.job_id, change, self._log_max)
        deadline = time.monotonic() + self._retry_seconds
        while True:
            try:
                event = self._send(keys, args)
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

    def _send(self, keys: list[str], args: list[str | bytes | int | float]) -> JobEvent:
        """The emit script, and WAIT for the replicas if there are any to wait for. A primary that
        dies before a replica has the write breaks the connection: the write is then unknown, as
        any lost one."""
        return parse_emit_result(self.job_id, self._acks.run(self._once, self._script, keys, args))

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


def _fold(held: Change, then: Change) -> Change:
    """`then`, carrying the held step's progress, stage and message where it has none of its own.
    A step's progress only moves forward, so the fold never takes it back."""
    progress = then.progress if then.progress is not None else held.progress
    if progress is not None and held.progress is not None:
        progress = max(progress, held.progress)
    return replace(
        then,
        progress=progress,
        stage=then.stage if then.stage is not None else held.stage,
        message=then.message if then.message is not None else held.message,
    )
