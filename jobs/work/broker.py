"""kombu's Redis transport, with one guard: a Redis restart must not kill the worker.

When Redis goes away, Celery's consumer closes its broker connection and reconnects. A channel of
the connection it released may still be used afterwards: closed late (a pub/sub read fails on the
dead socket during the restart), it restores its unacknowledged messages; or a task that ends
acknowledges its message on it. kombu then builds a Redis client from a transport whose client is
gone and raises AttributeError ('NoneType' object has no attribute 'hostname' / 'client'). That is
not one of the connection errors Celery and kombu expect, so the worker's main process died (the
issue saw it on one restart of two; tests/test_redis_restart.py makes it happen every time).

Here such a channel raises redis's ConnectionError instead, which kombu and Celery handle: a late
restore is skipped (the messages stay in kombu's unacked hash, handed out again after the
visibility timeout), a late acknowledgement is logged. The jobs those messages carry are covered
sooner by their leases: a live runner goes on, a lost one is swept (jobs/work/sweeper.py), and a copy
that arrives after the end finds the job finished. Selected by `broker_transport` in jobs/celery.py;
the URL stays `redis://` (`SentinelTransport`: `sentinel://`).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class _ReleasedChannelGuard:
    def _connparams(self, asynchronous: bool = False) -> Any:
        connection = getattr(self, "connection", None)
        if connection is None or connection.client is None:
            raise RedisConnectionError("this channel's broker connection was closed (replaced on reconnect)")
        return super()._connparams(asynchronous)  # type: ignore[misc]


class Channel(_ReleasedChannelGuard, kombu_redis.Channel):
    pass


class Transport(kombu_redis.Transport):
    Channel = Channel


# The same guard under Sentinel (REDIS_SENTINELS): the URL is `sentinel://host:port;...`.
class SentinelChannel(_ReleasedChannelGuard, kombu_redis.SentinelChannel):
    pass


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
