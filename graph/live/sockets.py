"""A cap on each user's open WebSockets, shared by every API replica.

Each socket holds a lease in a sorted set scored by when it lapses and renewed while the socket
lives, so the sockets of a replica that died free their places by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobs.core.names import Keys

ACQUIRE_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
LEASE_SECONDS = 90
# Releases under way: the loop keeps only weak references to tasks.
_RELEASES: set[asyncio.Task[None]] = set()


class SocketLease:
    def __init__(self, redis: Redis, keys: Keys, user: str) -> None:
        self._redis = redis
        self._key = keys.user_sockets(user)
        self._id = uuid.uuid4().hex
        self._renewal: asyncio.Task[None] | None = None

    async def acquire(self, limit: int) -> bool:
        now = time.time()
        script = self._redis.register_script(ACQUIRE_LUA)
        args: list[float | int | str] = [now, now + LEASE_SECONDS, limit, self._id, LEASE_SECONDS * 2]
        if not await script(keys=[self._key], args=args):
            return False
        self._renewal = asyncio.create_task(self._renew())
        return True

    async def release(self) -> None:
        """Gives the place back, even when the caller is being cancelled (a client that hung up:
        Starlette cancels its response, and keeps cancelling at every await). The release runs
        as a task of its own, which a cancelled caller no longer waits for but does not stop;
        interrupted, it would leave the place taken until the lease lapses."""
        if self._renewal is None:
            return
        release = asyncio.create_task(self._release(self._renewal))
        self._renewal = None
        _RELEASES.add(release)
        release.add_done_callback(_RELEASES.discard)
        await asyncio.shield(release)

    async def _release(self, renewal: asyncio.Task[None]) -> None:
        renewal.cancel()
        await asyncio.wait([renewal])
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(self._key, self._id)

    async def _renew(self) -> None:
        while True:
            # A timer, not a wait for an event: the lease must be renewed before it lapses.
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(RedisError, OSError):
                await self._redis.zadd(self._key, {self._id: time.time() + LEASE_SECONDS}, xx=True)


async def settle_releases() -> None:
    """Waits for the places being given back (at shutdown, before Redis is closed)."""
    if _RELEASES:
        await asyncio.wait(set(_RELEASES))
