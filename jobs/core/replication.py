"""When a write counts as made: once a replica has it, not only the primary.

Redis replicates asynchronously: the primary answers a write before any replica has it, and
subscribers get the write's PUBLISH at the same moment. If the primary dies before the replica
reads it, Sentinel promotes a replica that never saw it, and the log's next event takes its seq.
A subscriber that already received the lost event then drops the new one as a repeat (same
seq), and the job's output has a hole (what `tests/test_sentinel.py` once met in CI).

So after a write the writer asks the primary to WAIT until `replicas` replicas acknowledge it.
If the primary dies meanwhile, the writer's connection breaks and the write counts as unknown:
the run looks it up on the promoted replica and sends it again only if it is not there
(jobs/work/run.py), so a subscriber who saw it live gets the same event again at the same seq.

A replica that does not acknowledge within `timeout_ms` (stopped, cut off, far behind) must not
stall every write: the writer goes on without it and stops waiting for `pause_seconds`, then
tries again. Writes made in that time have only the primary, as without a replica (counted in
the `cvi_unreplicated_writes` metric; Redis's `min-replicas-to-write` is the stricter choice).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

log = logging.getLogger(__name__)

# After a WAIT came back short: how long writes go on without waiting before it is tried again.
PAUSE_SECONDS = 5.0


class ReplicaAcks:
    def __init__(
        self,
        replicas: int,
        timeout_ms: int,
        *,
        pause_seconds: float = PAUSE_SECONDS,
        on_short: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_short` runs for every write that went on with fewer acknowledgements than asked."""
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._pause_seconds = pause_seconds
        self._on_short = on_short or _count_unreplicated
        self._clock = clock
        self._paused_until = float("-inf")
        self._lock = threading.Lock()  # the threads pool's runs share one

    def run(self, client: Redis, script: Script, keys: list[str], args: list[Any]) -> Any:
        """`script`'s reply, once `replicas` replicas have its writes or were found silent."""
        if not self.wanted():
            return script(keys=keys, args=args, client=client)
        reply, acknowledged = run_and_wait(client, script, keys, args, self.replicas, self.timeout_ms)
        self.acknowledged(acknowledged)
        return reply

    async def run_async(
        self, client: AsyncRedis, script: AsyncScript, keys: list[str], args: list[Any]
    ) -> Any:
        """`run` for asyncio clients."""
        if not self.wanted():
            return await script(keys=keys, args=args, client=client)
        replicas, timeout_ms = self.replicas, self.timeout_ms
        reply, acknowledged = await run_and_wait_async(client, script, keys, args, replicas, timeout_ms)
        self.acknowledged(acknowledged)
        return reply

    def wanted(self) -> bool:
        """Whether the write just made should WAIT for its replicas."""
        if self.replicas <= 0:
            return False
        if self._clock() < self._paused_until:
            self._on_short()
            return False
        return True

    def acknowledged(self, count: int) -> None:
        """What WAIT answered for a write."""
        if count >= self.replicas:
            return
        self._on_short()
        with self._lock:
            if self._clock() < self._paused_until:
                return  # another run already said so
            self._paused_until = self._clock() + self._pause_seconds
        log.warning(
            "%d of %d replicas acknowledged a write within %d ms; writes go on without waiting for %.0f s",
            count,
            self.replicas,
            self.timeout_ms,
            self._pause_seconds,
        )


def run_and_wait(
    client: Redis, script: Script, keys: list[str], args: list[Any], replicas: int, timeout_ms: int
) -> tuple[Any, int]:
    """`script`'s reply, and how many replicas acknowledged its writes (WAIT). In one round trip,
    on one connection: WAIT counts the replicas that have its own connection's writes. (A cheaper
    round than a client of its own per write: that alone cost a worker about 100 us.)"""
    for _ in range(2):
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.wait(replicas, timeout_ms)
        if (answered := _answered(pipe.execute(raise_on_error=False))) is not None:
            return answered
        script.sha = client.script_load(script.script)
    raise NoScriptError(f"script {script.sha} missing after it was loaded")


async def run_and_wait_async(
    client: AsyncRedis, script: AsyncScript, keys: list[str], args: list[Any], replicas: int, timeout_ms: int
) -> tuple[Any, int]:
    """`run_and_wait` for asyncio clients."""
    for _ in range(2):
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.wait(replicas, timeout_ms)
        if (answered := _answered(await pipe.execute(raise_on_error=False))) is not None:
            return answered
        script.sha = await client.script_load(script.script)
    raise NoScriptError(f"script {script.sha} missing after it was loaded")


def _answered(replies: list[Any]) -> tuple[Any, int] | None:
    """The script's reply and WAIT's count; None when the server lacks the script (a promoted
    replica: scripts are not replicated), which is then loaded and the pair sent again."""
    reply, acknowledged = replies
    if isinstance(reply, NoScriptError):
        return None
    if isinstance(reply, Exception):
        raise reply
    if isinstance(acknowledged, Exception):
        # The write was made; WAIT was refused (an ACL without @connection, a service without
        # WAIT, a primary demoted meanwhile): as if no replica had answered.
        log.warning("WAIT refused (%s): the write counts as acknowledged by no replica", acknowledged)
        return reply, 0
    return reply, int(acknowledged)


_COUNTING = threading.Lock()
_counter: list[Counter] = []


def _count_unreplicated() -> None:
    # Made on first use, not at import: a worker switches prometheus-client to its multiprocess
    # mode first (jobs/work/metrics.py); and once per process, whoever's runs come back short.
    with _COUNTING:
        if not _counter:
            _counter.append(
                Counter(
                    "cvi_unreplicated_writes",
                    "Job writes that went on with fewer replicas' acknowledgements than REDIS_WAIT_REPLICAS.",
                )
            )
    _counter[0].inc()
