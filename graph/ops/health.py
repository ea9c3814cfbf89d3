"""`/healthz`: whether this API process can serve (Redis answering, the listener connected)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from graph.context import Services

HEALTH_PROBE_SECONDS = 2.0


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.state.services
    try:
        # Bounded: a probe that hangs on a Redis that is away must answer "unhealthy", not time out.
        redis_ok = bool(await asyncio.wait_for(services.redis.ping(), HEALTH_PROBE_SECONDS))
    except Exception:
        redis_ok = False
    healthy = redis_ok and services.listener.connected
    body = {
        "status": "ok" if healthy else "degraded",
        "redis": redis_ok,
        "listener": services.listener.connected,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)
