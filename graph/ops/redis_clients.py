"""The API process's Redis clients: a pool for commands, and the pub/sub listener's own connection.
One place to say where Redis is (docs/architecture.md C9, C11): REDIS_URL, or the primary that
REDIS_SENTINELS name, whose every new connection asks the sentinels where the primary is now."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from settings import Settings

# A sentinel that does not answer this fast is skipped for the next one.
SENTINEL_TIMEOUT_SECONDS = 1.0


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool, blocking like ours: a burst waits for a free connection, and a new one
    goes to the primary the sentinels name (after a failover, the promoted replica)."""


def redis_clients(settings: Settings) -> tuple[BlockingConnectionPool, Redis, Redis]:
    """The command pool, a client on it, and the listener's client."""
    # A blocking pool: a burst of subscribers waits for a free connection instead of failing.
    # A command on a connection Redis dropped (a restart, a failover) is sent once more on a
    # fresh one; Redis still being away is the caller's error to handle (or, for streams, to wait out).
    pool_options: dict[str, Any] = dict(
        max_connections=settings.redis_max_connections,
        timeout=10,
        health_check_interval=30,
        socket_keepalive=True,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 1),
    )
    # The listener heals its own connection (graph/live/listener.py): no silent redis-py retries.
    listener_options: dict[str, Any] = dict(
        retry=Retry(NoBackoff(), 0),
        socket_keepalive=True,
        client_name=f"{settings.key_prefix}-listener",
    )
    sentinels = settings.redis_sentinel_addresses
    if not sentinels:
        pool = BlockingConnectionPool.from_url(settings.redis_url, **pool_options)
        return pool, Redis(connection_pool=pool), Redis.from_url(settings.redis_url, **listener_options)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        sentinels,
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_SECONDS},
        **settings.redis_primary_kwargs,
    )
    master = settings.redis_sentinel_master
    redis = sentinel.master_for(master, connection_pool_class=BlockingSentinelPool, **pool_options)
    listener_redis = sentinel.master_for(master, **listener_options)
    pool = redis.connection_pool
    assert isinstance(pool, BlockingSentinelPool)
    return pool, redis, listener_redis
