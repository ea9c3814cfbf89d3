"""Jobs nobody runs any more get their task sent again.

A job's runner renews its lease (jobs/work/lease.py); when the lease lapses, the runner is gone (killed,
or it gave up on an unreachable Redis) and its task may be gone too (acknowledged on failure, or
lost with the broker's state). Every worker runs this sweep in a thread of its main process; the
script claims each lapsed job for one lease length in the same atomic step that finds it, so
several workers (or several sweeps) send it once. The task that arrives takes the job over as a
redelivery (`JobRun.start`), or finds it finished and does nothing; a job whose task was only
late is therefore safe to sweep too.

A job is in the index from its creation, with a grace for queueing: a job still QUEUED after it
(its message lost with the last second of an AOF, say) gets its task sent again, and again after
each further grace while it waits. A copy that finds the job running under a live lease waits
(`JobRun.start`), so a backlog longer than the grace costs duplicate messages, never double work.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from redis import Redis
from redis.exceptions import RedisError

from jobs.core.dispatch import enqueue, route
from jobs.core.names import JobKind, Keys
from jobs.core.quotas import Plan
from settings import Settings

log = logging.getLogger(__name__)

# Lapsed leases of unfinished jobs, claimed for ARGV[2] ms (a job still QUEUED: for ARGV[3] ms, its
# queueing grace again); finished or deleted jobs leave the set.
SWEEP_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lapsed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)) do
  local rec = ARGV[1] .. id
  local state = redis.call('HGET', rec, 'state')
  if state == 'RUNNING' or state == 'RETRYING' or state == 'QUEUED' then
    local claim = tonumber(ARGV[2])
    if state == 'QUEUED' then claim = tonumber(ARGV[3]) end
    redis.call('ZADD', KEYS[1], now + claim, id)
    table.insert(lapsed, id)
    table.insert(lapsed, redis.call('HGET', rec, 'kind'))
    table.insert(lapsed, redis.call('HGET', rec, 'plan') or '')
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return lapsed
"""


class Sweeper:
    def __init__(self, celery: Celery, redis: Redis, settings: Settings) -> None:
        self._celery = celery
        self._keys = Keys(settings.key_prefix)
        self._interval = settings.job_sweep_interval_seconds
        self._claim_ms = int(settings.job_lease_seconds * 1000)
        self._queued_ms = int(settings.job_queued_grace_seconds * 1000)
        self._script = redis.register_script(SWEEP_LUA)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def sweep(self) -> list[str]:
        """Send the task of every job whose lease lapsed; their ids."""
        args: list[str | int] = [self._keys.job(""), self._claim_ms, self._queued_ms]
        found = self._script(keys=[self._keys.leases], args=args)
        ids = [x.decode() for x in found[::3]]
        for job_id, kind, plan in zip(ids, found[1::3], found[2::3], strict=True):
            log.warning("job %s: its runner stopped renewing its lease; sending its task again", job_id)
            # Its plan's queue, first in line there: it waited its turn once already.
            to = route(self._keys, Plan.stored(plan.decode() if plan else None))
            enqueue(self._celery, JobKind(kind.decode()), job_id, to)
        return ids

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sweep()
            except (RedisError, OSError) as e:
                # Redis is away (the claim in the script was not made, or the send failed and the
                # claim lapses after a lease length): the next sweep tries again.
                log.warning("job sweep failed (%s); trying again in %.0fs", e, self._interval)
            except Exception:
                log.exception("job sweep failed")
