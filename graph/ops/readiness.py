"""`/readyz`: whether this API process can serve jobs now: Redis answers, the pub/sub listener is
connected, and at least one worker answers a Celery ping within READYZ_WORKER_TIMEOUT_SECONDS.

The verdict is kept READYZ_CACHE_SECONDS, and probes that arrive while a check runs wait for that
check: however many balancers probe, a process pings Redis and the workers once per period.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from celery import Celery
from starlette.requests import Request
from starlette.responses import JSONResponse

from graph.context import Services
from settings import Settings

# A Redis that is away must make the probe answer "not ready", not hang it.
REDIS_PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class Verdict:
    redis: bool
    listener: bool
    worker: bool
    checked_at: float

    @property
    def ready(self) -> bool:
        return self.redis and self.listener and self.worker


class Readiness:
    def __init__(self, worker_timeout: float, cache_seconds: float) -> None:
        self._worker_timeout = worker_timeout
        self._cache_seconds = cache_seconds
        self._last: Verdict | None = None
        self._checking: asyncio.Future[Verdict] | None = None

    async def verdict(self, services: Services) -> Verdict:
        last = self._last
        if last is not None and time.monotonic() - last.checked_at < self._cache_seconds:
            return last
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(self._check(services))
        # Shielded: a probe that hangs up does not cancel the check the others wait for.
        return await asyncio.shield(self._checking)

    async def _check(self, services: Services) -> Verdict:
        redis = await _redis_answers(services)
        # Without Redis no ping can be sent (kombu would wait to connect): no worker is reachable.
        worker = redis and await self._worker_answers(services.celery)
        self._last = Verdict(redis, services.listener.connected, worker, time.monotonic())
        return self._last

    async def _worker_answers(self, celery: Celery) -> bool:
        ping = asyncio.to_thread(_worker_answers, celery, self._worker_timeout)
        try:
            # Bounded here too: Redis may go away between its ping and the broadcast.
            return await asyncio.wait_for(ping, self._worker_timeout + REDIS_PROBE_SECONDS)
        except TimeoutError:
            return False


async def _redis_answers(services: Services) -> bool:
    try:
        return bool(await asyncio.wait_for(services.redis.ping(), REDIS_PROBE_SECONDS))
    except Exception:
        return False


def _worker_answers(celery: Celery, timeout: float) -> bool:
    """Whether any worker answers a ping in `timeout`; returns at the first answer (`limit=1`)."""
    try:
        replies: list[Any] = celery.control.ping(timeout=timeout, limit=1)
    except Exception:
        return False
    return bool(replies)


def readyz(settings: Settings) -> Any:
    """The /readyz endpoint of one process."""
    readiness = Readiness(settings.readyz_worker_timeout_seconds, settings.readyz_cache_seconds)

    async def endpoint(request: Request) -> JSONResponse:
        verdict = await readiness.verdict(request.state.services)
        body = {
            "status": "ready" if verdict.ready else "not ready",
            "redis": verdict.redis,
            "listener": verdict.listener,
            "worker": verdict.worker,
            "checkedSecondsAgo": round(time.monotonic() - verdict.checked_at, 3),
        }
        return JSONResponse(body, status_code=200 if verdict.ready else 503)

    return endpoint
