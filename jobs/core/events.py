"""The event contract (C2): one shape for every change of a job, written atomically.

`EMIT_LUA` applies a change to the job record, appends the resulting event to the job's bounded
log and PUBLISHes it on the job's channel, in one script: the record, the log and the live
stream can never disagree, and `seq` rises by exactly one per event. Guards in the same script
make the worker's writes safe against cancellation and against a second runner of the same job
(redelivery): a write whose precondition fails changes nothing. The same script keeps each
user's set of unfinished jobs (their concurrency cap), refunds the quota of jobs that fail on
our side, and publishes every event a second time on
the owner's channel, for dashboards (myJobUpdates).

`Change` describes a write; `prepare_emit` turns it into script arguments so the synchronous
worker client and the asyncio API client share everything but the call itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from jobs.core.errors import JobClosed, NotFound, Superseded, TooBusy
from jobs.core.names import EventType, JobState, Keys
from jobs.core.outcome import Writes
from jobs.core.quotas import REFUNDABLE, Charge, QuotaRefused

EMIT_LUA = """
local spec = cjson.decode(ARGV[2])
local rec, log, out = KEYS[1], KEYS[2], KEYS[3]
local cur = redis.call('HGET', rec, 'state') or ''
local allowed = false
for _, s in ipairs(spec.require) do
  if s == cur then allowed = true break end
end
if not allowed then return {0, 'STATE', cur} end
if spec.runner ~= nil and spec.runner ~= cjson.null then
  if (redis.call('HGET', rec, 'runner') or '') ~= spec.runner then
    return {0, 'SUPERSEDED', cur}
  end
end
if cur == '' then
  -- A new job: the owner's concurrency cap and every quota it is charged to are checked before
  -- any of them changes, so a refused call touches no counter.
  if spec.active_key ~= cjson.null then
    -- Forget jobs that finished (or vanished) without saying so.
    for _, id in ipairs(redis.call('SMEMBERS', spec.active_key)) do
      local st = redis.call('HGET', spec.job_prefix .. id, 'state')
      if not st or st == 'SUCCEEDED' or st == 'FAILED' or st == 'CANCELLED' then
        redis.call('SREM', spec.active_key, id)
      end
    end
    if redis.call('SCARD', spec.active_key) >= tonumber(spec.active_limit) then return {0, 'BUSY', cur} end
  end
  for i, c in ipairs(spec.charges) do
    local used = tonumber(redis.call('GET', c[1]) or '0')
    local credit = 0
    if c[5] ~= cjson.null then credit = redis.call('STRLEN', c[5]) end
    if used - credit + c[3] > c[2] then return {0, 'QUOTA', cur, i, used} end
  end
  -- Every job of the owner, for deletes and erasure (jobs/core/deletes.py).
  redis.call('SADD', spec.jobs_key, spec.job_id)
  if spec.active_key ~= cjson.null then
    redis.call('SADD', spec.active_key, spec.job_id)
    redis.call('HSET', rec, 'active_key', spec.active_key)
  end
  if spec.queued_grace_ms ~= cjson.null then
    -- The sweeper's index (jobs/work/sweeper.py): a task lost before any worker took it is sent again.
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('ZADD', spec.leases_key, now + spec.queued_grace_ms, spec.job_id)
  end
  for _, c in ipairs(spec.charges) do
    redis.call('INCRBY', c[1], c[3])
    if c[4] ~= cjson.null then redis.call('EXPIREAT', c[1], c[4]) end
  end
end
-- The outputs this event links (jobs/core/outcome.py), past the guards: written with it or not at all.
local arg = 4
for _, w in ipairs(spec.writes) do
  if not w[4] or redis.call('EXISTS', w[2]) == 1 then
    redis.call(w[1], w[2], unpack(ARGV, arg, arg + w[3] - 1))
  end
  arg = arg + w[3]
end
if spec.count_redelivery and cur == 'RUNNING' then
  redis.call('HINCRBY', rec, 'redeliveries', 1)
end
for k, v in pairs(spec.set) do redis.call('HSET', rec, k, v) end
for k, v in pairs(spec.incr) do redis.call('HINCRBY', rec, k, v) end
if spec.reset_output then redis.call('DEL', out) end
if spec.delta ~= cjson.null then redis.call('APPEND', out, spec.delta) end
local t = redis.call('TIME')
local at = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
if cur == '' then redis.call('HSET', rec, 'created_at', at) end
redis.call('HSET', rec, 'updated_at', at)
local seq = redis.call('HINCRBY', rec, 'seq', 1)
local f = redis.call('HMGET', rec, 'state', 'progress', 'stage')
local event = cjson.encode({
  jobId = spec.job_id, seq = seq, type = spec.type, state = f[1],
  progress = tonumber(f[2]) or 0, stage = f[3] or cjson.null,
  message = spec.message, delta = spec.delta, error = spec.error, at = at,
})
redis.call('RPUSH', log, event)
redis.call('LTRIM', log, -tonumber(spec.log_max), -1)
if spec.terminal then
  local active = redis.call('HGET', rec, 'active_key')
  if active then redis.call('SREM', active, spec.job_id) end
  -- Retention's index (jobs/work/retention.py).
  redis.call('ZADD', spec.finished_key, t[1], spec.job_id)
end
if spec.refund then
  -- A failure on our side gives the job's quota unit back to the counter it was charged to.
  local charge = redis.call('HGET', rec, 'charge')
  if charge and charge ~= '' and redis.call('HSETNX', rec, 'refunded', 1) == 1 then
    if tonumber(redis.call('GET', charge) or '0') > 0 then redis.call('DECR', charge) end
  end
end
redis.call('PUBLISH', ARGV[1], event)
redis.call('PUBLISH', ARGV[3] .. (redis.call('HGET', rec, 'owner') or ''), event)
return {1, event}
"""

# Reads the record and the events after `ARGV[1]` (or only the latest event when negative) in
# one atomic step, so the log slice always matches the record's seq.
# A job's record and its log from ARGV[1] on. With ARGV[2] = '1' the record comes without its input
# and result (a CV, a rewrite: tens of KB each): what a subscription's replay reads, which needs only
# the job's owner, state and seq, and which every subscription does as it starts.
READ_LUA = """
local rec = redis.call('HGETALL', KEYS[1])
if #rec == 0 then return {} end
if ARGV[2] == '1' then
  local light = {}
  for i = 1, #rec, 2 do
    if rec[i] ~= 'input' and rec[i] ~= 'result' then
      light[#light + 1] = rec[i]
      light[#light + 1] = rec[i + 1]
    end
  end
  rec = light
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local len = redis.call('LLEN', KEYS[2])
local after = tonumber(ARGV[1])
local start
if after < 0 then start = len - 1 else start = math.max(0, after - (seq - len + 1) + 1) end
return {rec, redis.call('LRANGE', KEYS[2], start, -1)}
"""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One event, as stored in the log, published, and streamed to subscribers."""

    job_id: str
    seq: int
    type: EventType
    state: JobState
    progress: int
    stage: str | None
    message: str | None
    delta: str | None
    error: ErrorInfo | None
    at: float

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobEvent:
        # orjson: each API process parses every event its subscribers get, once (about 2 us less).
        data = orjson.loads(raw)
        error = data.get("error")
        return cls(
            job_id=data["jobId"],
            seq=int(data["seq"]),
            type=EventType(data["type"]),
            state=JobState(data["state"]),
            progress=int(data["progress"]),
            stage=data.get("stage"),
            message=data.get("message"),
            delta=data.get("delta"),
            error=ErrorInfo(error["code"], error["message"]) if error else None,
            at=float(data["at"]),
        )


@dataclass(frozen=True)
class Change:
    """One write to a job: which states it may follow, what it sets, what the event says."""

    type: EventType
    require: Iterable[JobState | None]
    state: JobState | None = None
    progress: int | None = None
    stage: str | None = None
    message: str | None = None
    delta: str | None = None
    error: ErrorInfo | None = None
    runner: str | None = None
    fields: Mapping[str, str | int] = field(default_factory=dict)
    incr: Mapping[str, int] = field(default_factory=dict)
    reset_output: bool = False
    count_redelivery: bool = False
    # On creation: the owner's set of unfinished jobs, and how many it may hold.
    active_key: str | None = None
    active_limit: int | None = None
    # On creation: the quota counters to charge, all or none (jobs/core/quotas.py).
    charges: Sequence[Charge] = ()
    # On creation: how long the job may stay QUEUED before the sweeper sends its task again.
    queued_grace_ms: int | None = None
    refund: bool = False  # give the quota unit back (a failure on our side)
    writes: Writes | None = None  # outputs stored in the same step (jobs/core/outcome.py)


def failure(error: ErrorInfo, require: Iterable[JobState | None], runner: str | None = None) -> Change:
    """The change that fails a job; the API and the workers differ only in their guards. A
    failure on our side refunds the job's quota unit in the same step."""
    return Change(
        type=EventType.FAILED,
        require=require,
        runner=runner,
        state=JobState.FAILED,
        error=error,
        message=error.message,
        refund=error.code in REFUNDABLE,
    )


def prepare_emit(
    keys: Keys, job_id: str, change: Change, log_max: int
) -> tuple[list[str], list[str | bytes | int | float]]:
    updates: dict[str, str | int] = dict(change.fields)
    if change.state is not None:
        updates["state"] = change.state.value
    if change.progress is not None:
        updates["progress"] = change.progress
    if change.stage is not None:
        updates["stage"] = change.stage
    if change.message is not None:
        updates["message"] = change.message
    if change.error is not None:
        updates["error"] = json.dumps(change.error.as_dict())
    commands = change.writes.commands if change.writes is not None else []
    spec: dict[str, Any] = {
        "job_id": job_id,
        "type": change.type.value,
        "require": [s.value if s is not None else "" for s in change.require],
        "runner": change.runner,
        # cjson turns an empty JSON object into an empty Lua table either way; a list keeps
        # `pairs` happy when there is nothing to set.
        "set": updates or [],
        "incr": dict(change.incr) or [],
        "reset_output": change.reset_output,
        "count_redelivery": change.count_redelivery,
        "message": change.message,
        "delta": change.delta,
        "error": change.error.as_dict() if change.error else None,
        "log_max": log_max,
        "terminal": change.state is not None and change.state.terminal,
        "active_key": change.active_key,
        "active_limit": change.active_limit,
        "refund": change.refund,
        "job_prefix": keys.job(""),
        "writes": [[w.command, w.key, len(w.args), w.only_if_exists] for w in commands] or [],
        "charges": [[c.key, c.limit, c.amount, c.expire_at, c.credit_key] for c in change.charges] or [],
        "queued_grace_ms": change.queued_grace_ms,
        "leases_key": keys.leases,
        "finished_key": keys.finished_jobs,
        "jobs_key": keys.user_jobs(str(change.fields.get("owner", ""))),
    }
    values = [arg for w in commands for arg in w.args]
    return keys.job_keys(job_id), [keys.job_channel(job_id), json.dumps(spec), keys.user_channel(""), *values]


def parse_emit_result(job_id: str, result: list[Any]) -> JobEvent:
    """The script's reply: the event, or why the write was refused (nothing was changed)."""
    if int(result[0]) == 1:
        return JobEvent.from_json(result[1])
    reason, state = as_text(result[1]), as_text(result[2])
    if reason == "SUPERSEDED":
        raise Superseded(f"job {job_id} was taken over by another runner")
    if reason == "QUOTA":
        raise QuotaRefused(int(result[3]) - 1, int(result[4]))
    if reason == "BUSY":
        raise TooBusy("you have as many unfinished jobs as your limit allows; wait for one to finish")
    if not state:
        raise NotFound(f"job {job_id} does not exist")
    raise JobClosed(f"job {job_id} is {state}", state=state)


def as_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value
