"""A running job's lease: how a worker says "I am still running this job".

The runner of a job renews a deadline in the job's record (`lease_until`, milliseconds of Redis's
own clock, so workers' clocks never matter) and in one sorted set of every leased job, the
sweeper's index (jobs/work/sweeper.py). A copy of the task that arrives while the lease is live is a
broker artefact (a reconnect restored the message) and waits; only a lapsed lease means the runner
was lost, and only then may a copy take the job over (and count a redelivery).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import RedisError

from jobs.core.names import Keys

log = logging.getLogger(__name__)

# Renews the lease of the run holding `runner`; 0 when the job is no longer that run's (or no
# longer in a state the caller allows), else the new deadline.
RENEW_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if redis.call('HGET', KEYS[1], 'runner') ~= ARGV[1] then return 0 end
if state ~= 'RUNNING' and not (ARGV[4] == '1' and state == 'RETRYING') then return 0 end
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'lease_until', deadline)
redis.call('ZADD', KEYS[2], deadline, ARGV[3])
return deadline
"""

# Milliseconds left on the job's lease by Redis's clock (negative or 0: lapsed, or never taken).
LEFT_LUA = """
local deadline = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
local t = redis.call('TIME')
return deadline - (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
"""


class LeaseHeld(Exception):
    """Another run holds the job under a live lease: check again after `seconds`."""

    def __init__(self, job_id: str, seconds: float) -> None:
        super().__init__(f"job {job_id} is held by a live runner for {seconds:.1f}s more")
        self.seconds = seconds


class Lease:
    def __init__(self, redis: Redis, keys: Keys, job_id: str, seconds: float) -> None:
        self._redis = redis
        self._record = keys.job(job_id)
        self._index = keys.leases
        self._job_id = job_id
        self.seconds = seconds
        self._renew = redis.register_script(RENEW_LUA)
        self._left = redis.register_script(LEFT_LUA)

    def left(self) -> float:
        """Seconds left on the job's lease (0 when lapsed or never taken)."""
        return max(0, int(self._left(keys=[self._record]))) / 1000

    def renew(self, runner: str, extra: float = 0.0, retrying: bool = False) -> bool:
        """Extend the lease of `runner` by the lease time (plus `extra`); False when the job is
        no longer that run's. `retrying` also allows the RETRYING state (a run waiting for its
        retry holds the job for the delay)."""
        ms = int((self.seconds + extra) * 1000)
        args: list[str | int] = [runner, ms, self._job_id, "1" if retrying else "0"]
        return bool(self._renew(keys=[self._record, self._index], args=args))

    @contextlib.contextmanager
    def kept(self, runner: str) -> Iterator[None]:
        """Renew the lease every third of its length while the body runs (a thread: the body may
        hold the GIL-free parts of the process busy, not this)."""
        stop = threading.Event()
        thread = threading.Thread(target=self._heartbeat, args=(runner, stop), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(self.seconds)

    def _heartbeat(self, runner: str, stop: threading.Event) -> None:
        while not stop.wait(self.seconds / 3):
            try:
                if not self.renew(runner):
                    return  # cancelled, finished or taken over: nothing left to hold
            except RedisError as e:
                # The client has retried already; the next beat tries again.
                log.warning("job %s: could not renew the lease (%s)", self._job_id, e)
