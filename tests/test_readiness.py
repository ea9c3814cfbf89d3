"""/healthz says the process answers; /readyz says it can serve jobs: Redis answers, the listener is
connected and a worker answers a ping. Stopping the stack's only worker turns /readyz to 503 while
/healthz stays 200; a new worker turns it back; a verdict is kept READYZ_CACHE_SECONDS. (Redis
away: tests/test_redis_restart.py sees 503 on both API processes.)"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import start_stack
from tests.support.processes import Api, wait_ready


async def _get(api: Api, path: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{api.base_url}{path}")
    return response.status_code, response.json()


async def test_readyz_follows_the_workers_and_healthz_only_the_process(redis_server, workdir) -> None:
    stack = await start_stack("t-ready", redis_server.url, workdir, READYZ_CACHE_SECONDS="0")
    try:
        cached = await stack.add_api("cached", READYZ_CACHE_SECONDS="600")
        for api in (stack.api, cached):
            await wait_ready(api)
        status, body = await _get(stack.api, "/readyz")
        assert (status, body["redis"], body["listener"], body["worker"]) == (200, True, True, True)

        await stack.workers[0].stop()
        status, body = await _get(stack.api, "/readyz")
        assert (status, body) == (503, {**body, "status": "not ready", "worker": False})
        assert (body["redis"], body["listener"]) == (True, True)
        assert await _get(stack.api, "/healthz") == (200, {"status": "ok"})
        # The other process answers from the verdict it reached with the worker there.
        status, body = await _get(cached, "/readyz")
        assert (status, body["worker"]) == (200, True)
        assert body["checkedSecondsAgo"] > 0

        await stack.add_worker("worker2")
        await wait_ready(stack.api)
    finally:
        await stack.stop()
