"""The API's view of the job store: create, read, replay and cancel jobs (asyncio Redis).

Workers write through `jobs/work/run.py`; both go through the one script in `jobs/core/events.py`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs.core.deletes import DELETE_LUA, Outputs, delete_args, delete_keys
from jobs.core.errors import NotFound
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
from jobs.core.names import ACTIVE_STATES, EventType, JobKind, JobState, Keys, Stage
from jobs.core.quotas import Charge, Plan
from jobs.core.records import JobRecord
from jobs.core.replication import ReplicaAcks

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Created:
    record: JobRecord
    # How many other unfinished jobs the owner had then: the job's turn in its plan's queue
    # (jobs/core/dispatch.py). Read just after the atomic create, so a user's own simultaneous
    # creates may share a rank; it only orders their jobs against other users' ones.
    rank: int


# READ_LUA's flag: streams need a record's owner, state and seq, never its input or result.
WITHOUT_INPUT_AND_RESULT = 1


@dataclass(frozen=True, slots=True)
class Replay:
    """A job as a stream reads it: the record without its input and result, and events from its log."""

    record: JobRecord
    events: list[JobEvent]


class JobStore:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        log_max: int,
        read_patience: float = 0.0,
        queued_grace: float | None = None,
        replicas: int = 0,
        replica_wait_ms: int = 500,
    ) -> None:
        """`read_patience`: how long `replay` keeps trying while Redis is away (a restart), so a
        stream re-reading its log rides out an outage its listener rides out too. `queued_grace`:
        how long a new job may stay QUEUED before the workers' sweeper sends its task again.
        `replicas`: how many replicas must have a create or a cancel before it is answered
        (jobs/core/replication.py), waited for up to `replica_wait_ms`."""
        self._acks = ReplicaAcks(replicas, replica_wait_ms)
        self._queued_grace_ms = None if queued_grace is None else int(queued_grace * 1000)
        self._redis = redis
        self._keys = keys
        self._log_max = log_max
        self._read_patience = read_patience
        self._emit_script = redis.register_script(EMIT_LUA)
        self._read_script = redis.register_script(READ_LUA)

    async def create(
        self,
        kind: JobKind,
        owner: str,
        job_input: dict[str, Any],
        charges: Sequence[Charge] = (),
        active_limit: int | None = None,
        plan: Plan = Plan.FREE,
    ) -> Created:
        """Write the record (QUEUED, seq 1) and its first event before anything is enqueued (C1).
        With `active_limit`, the owner may hold at most that many unfinished jobs (TooBusy);
        `charges` are made in the same step or not at all (QuotaRefused), and the first one's
        unit is given back if the job fails on our side."""
        job_id = str(uuid.uuid4())
        await self.emit(
            job_id,
            Change(
                type=EventType.CREATED,
                require=[None],
                state=JobState.QUEUED,
                progress=0,
                stage=Stage.QUEUED.value,
                message="Job queued",
                fields={
                    "id": job_id,
                    "kind": kind.value,
                    "owner": owner,
                    "input": json.dumps(job_input),
                    "attempts": 0,
                    "redeliveries": 0,
                    "charge": charges[0].key if charges else "",
                    "plan": plan.value,
                },
                active_key=self._keys.user_active_jobs(owner) if active_limit is not None else None,
                active_limit=active_limit,
                charges=charges,
                queued_grace_ms=self._queued_grace_ms,
            ),
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.job(job_id))
            pipe.scard(self._keys.user_active_jobs(owner))
            raw, unfinished = await pipe.execute()
        if not raw:
            raise NotFound(f"job {job_id} does not exist")
        # Without a cap the owner's jobs are not counted (no active set): every job is a first.
        return Created(JobRecord.from_hash(raw), max(unfinished - 1, 0))

    async def get(self, job_id: str) -> JobRecord:
        raw = await self._redis.hgetall(self._keys.job(job_id))
        if not raw:
            raise NotFound(f"job {job_id} does not exist")
        return JobRecord.from_hash(raw)

    async def replay(self, job_id: str, after_seq: int | None) -> Replay:
        """The record and the logged events after `after_seq` (None: only the latest one)."""
        after = -1 if after_seq is None else after_seq
        keys = [self._keys.job(job_id), self._keys.job_log(job_id)]
        reply = await _patiently(
            lambda: self._read_script(keys=keys, args=[after, WITHOUT_INPUT_AND_RESULT]), self._read_patience
        )
        if not reply:
            raise NotFound(f"job {job_id} does not exist")
        return _replay_of(reply)

    async def latest_of(self, owner: str, known: Iterable[str]) -> list[JobEvent]:
        """The latest event of each of the owner's unfinished jobs and of the `known` ones,
        oldest job first."""
        known = set(known)
        unfinished = {as_text(i) for i in await self._redis.smembers(self._keys.user_active_jobs(owner))}
        found = [
            r
            for r in await self._latest_replays(sorted(unfinished | known))
            if r.record.owner == owner and r.events and (r.record.id in known or not r.record.state.terminal)
        ]
        return [r.events[-1] for r in sorted(found, key=lambda r: r.record.created_at)]

    async def _latest_replays(self, job_ids: list[str]) -> list[Replay]:
        """Each job's record with its latest event, in one round trip; a job deleted meanwhile is
        left out."""

        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    keys = (self._keys.job(job_id), self._keys.job_log(job_id))
                    pipe.eval(READ_LUA, 2, *keys, -1, WITHOUT_INPUT_AND_RESULT)
                return list(await pipe.execute())

        replies = await _patiently(read, self._read_patience) if job_ids else []
        return [_replay_of(reply) for reply in replies if reply]

    async def cancel(self, job_id: str) -> JobEvent:
        return await self.emit(
            job_id,
            Change(
                type=EventType.CANCELLED,
                require=ACTIVE_STATES,
                state=JobState.CANCELLED,
                message="Cancelled by the user",
            ),
        )

    async def fail(self, job_id: str, error: ErrorInfo) -> JobEvent:
        return await self.emit(job_id, failure(error, require=ACTIVE_STATES))

    async def delete(
        self, owner: str, roots: Sequence[str], outputs: Outputs = Outputs.UNLISTED
    ) -> list[str]:
        """`roots` (jobs.core.deletes' 'kind:id') with everything that goes with them, in one atomic
        step; the ids of the jobs deleted."""
        keys = delete_keys(self._keys, owner)
        deleted = await self._redis.eval(
            DELETE_LUA, len(keys), *keys, *delete_args(self._keys, outputs, list(roots))
        )
        return [as_text(i) for i in deleted]

    async def emit(self, job_id: str, change: Change) -> JobEvent:
        keys, args = prepare_emit(self._keys, job_id, change, self._log_max)
        # With replicas to wait for, a failover meanwhile raises (the caller gets an error and may
        # try again) instead of answering with a job the promoted replica may not have.
        reply = await self._acks.run_async(self._redis, self._emit_script, keys, args)
        return parse_emit_result(job_id, reply)


def _replay_of(reply: list[Any]) -> Replay:
    flat, events = reply
    record = JobRecord.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
    return Replay(record, [JobEvent.from_json(raw) for raw in events])


async def _patiently(read: Callable[[], Awaitable[T]], patience: float) -> T:
    """`read()`, tried again with backoff while Redis is unreachable, for up to `patience` s."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    delay = 0.05
    while True:
        try:
            return await read()
        except (RedisConnectionError, RedisTimeoutError, BusyLoadingError, OSError):
            if loop.time() + delay > give_up:
                raise
        # Reconnect backoff, not a wait for an event: Redis is away.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
