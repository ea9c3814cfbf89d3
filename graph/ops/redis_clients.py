"""The API process's Redis clients: a pool for commands, and the pub/sub listener's own connection.
One place to say where Redis is (docs/architecture.md C9, C11)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from settings import Settings


def redis_clients(settings: Settings) -> tuple[BlockingConnectionPool, Redis, Redis]:
    """The command pool, a client on it, and the listener's client."""
    # A blocking pool: a burst of subscribers waits for a free connection instead of failing.
    # A command on a connection Redis dropped (a restart) is sent once more on a fresh one;
    # Redis still being away is the caller's error to handle (or, for streams, to wait out).
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=10,
        health_check_interval=30,
        socket_keepalive=True,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 1),
    )
    redis = Redis(connection_pool=pool)
    # The listener heals its own connection (graph/live/listener.py): no silent redis-py retries.
    listener_redis = Redis.from_url(
        settings.redis_url,
        retry=Retry(NoBackoff(), 0),
        socket_keepalive=True,
        client_name=f"{settings.key_prefix}-listener",
    )
    return pool, redis, listener_redis
