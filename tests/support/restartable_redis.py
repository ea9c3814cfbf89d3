"""A Redis of a test's own that the test may stop and start again on the same port with the same
AOF directory (as an operator's restart would), and a stack of one prefork worker and two API
processes on it. Never the session's `redis_server`: other tests share that one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from devstack.redis_server import RedisServer, start_redis
from tests.conftest import Stack, stack_env
from tests.support.processes import Api, start_api, start_worker


@dataclass
class RestartableRedis:
    data_dir: Path
    server: RedisServer

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """SIGTERM: Redis writes its AOF and exits, like SHUTDOWN SAVE."""
        self.server.stop()

    def start(self) -> float:
        """Up again on the same port, from the same AOF; the moment it answered (monotonic)."""
        self.server = start_redis(self.data_dir, port=self.server.port)
        return time.monotonic()

    async def restart(self, outage: float) -> float:
        await asyncio.to_thread(self.stop)
        # The outage itself is what is simulated: there is no event to wait for.
        await asyncio.sleep(outage)
        return await asyncio.to_thread(self.start)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[Redis]:
        client = Redis.from_url(self.url)
        try:
            yield client
        finally:
            await client.aclose()


def own_redis(data_dir: Path) -> RestartableRedis:
    return RestartableRedis(data_dir, start_redis(data_dir))


def module_redis(name: str) -> Any:
    """A module-scoped fixture: a Redis of the module's own, in a fresh folder named `name`."""

    @pytest.fixture(scope="module")
    def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableRedis]:
        redis = own_redis(tmp_path_factory.mktemp(name))
        yield redis
        redis.stop()

    return restartable


async def two_api_stack(prefix: str, redis: RestartableRedis, cwd: Path, **env: str) -> Stack:
    """One prefork worker of two processes and two API processes, as in the issue's report."""
    full_env = {**stack_env(redis.url, prefix), **env}
    worker = start_worker(f"{prefix}-worker", full_env, cwd, pool="prefork", concurrency=2)
    api = await start_api(f"{prefix}-api", full_env, cwd)
    stack = Stack(prefix, full_env, cwd, api, [worker])
    await stack.add_api("api2")
    return stack


async def health_status(api: Api) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(f"{api.base_url}/readyz")).status_code
