"""Session-wide real processes: one Redis server, and stacks (a Celery worker plus uvicorn) that
share it under their own key prefix, as separate deployments would (C9)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

from devstack.redis_server import RedisServer, start_redis
from tests.support import auth
from tests.support.fake_openai import FakeOpenAI
from tests.support.node import install_js_clients
from tests.support.processes import Api, Proc, start_api, start_worker


@dataclass
class Stack:
    prefix: str
    env: dict[str, str]
    cwd: Path
    api: Api
    workers: list[Proc]
    extra_apis: list[Api] = field(default_factory=list)

    @property
    def http(self) -> str:
        return self.api.http_url

    @property
    def ws(self) -> str:
        return self.api.ws_url

    async def add_api(self, name: str, **env: str) -> Api:
        api = await start_api(f"{self.prefix}-{name}", {**self.env, **env}, self.cwd)
        self.extra_apis.append(api)
        return api

    async def add_worker(self, name: str, pool: str = "threads", concurrency: int = 8) -> Proc:
        worker = start_worker(f"{self.prefix}-{name}", self.env, self.cwd, pool, concurrency)
        self.workers.append(worker)
        return worker

    async def stop(self) -> None:
        for api in [self.api, *self.extra_apis]:
            await api.proc.stop()
        for worker in self.workers:
            await worker.stop()


async def start_stack(prefix: str, redis_url: str, cwd: Path, pool: str = "threads", **env: str) -> Stack:
    full_env = {**stack_env(redis_url, prefix), **env}
    worker = start_worker(f"{prefix}-worker", full_env, cwd, pool)
    api = await start_api(f"{prefix}-api", full_env, cwd)
    return Stack(prefix, full_env, cwd, api, [worker])


def stack_env(redis_url: str, prefix: str) -> dict[str, str]:
    """What every test deployment runs with: its own prefix, the suite's token secret, and
    concurrency caps that only the tests of the caps lower."""
    return {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": prefix,
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": "1000",
        "MAX_WEBSOCKETS_PER_USER": "1000",
    }


@asynccontextmanager
async def api_alone(prefix: str, redis_url: str, cwd: Path, **env: str) -> AsyncIterator[Api]:
    """An API process with no worker (its jobs stay unfinished) under its own key prefix, with
    the suite's settings and `env` over them; stopped on leaving."""
    api = await start_api(f"{prefix}-api", {**stack_env(redis_url, prefix), **env}, cwd)
    try:
        yield api
    finally:
        await api.proc.stop()


@pytest.fixture(autouse=True)
def own_caller(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test acts as a user of its own (tests/support/auth.py)."""
    user = "u-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    auth.Caller.become(user)
    yield user


def ai_env(fake_openai: FakeOpenAI, **overrides: str) -> dict[str, str]:
    """The OpenAI engine, pointed at the fake server, with quick retries."""
    return {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_MODEL": "fake-model",
        "OPENAI_TIMEOUT_SECONDS": "20",
        "AI_RETRY_BASE_SECONDS": "0.1",
        "AI_MAX_RETRIES": "3",
        **overrides,
    }


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Processes run outside the checkout, as an operator's would after `pip install`.
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def offline_stack(redis_server: RedisServer, workdir: Path) -> AsyncIterator[Stack]:
    stack = await start_stack("t-offline", redis_server.url, workdir)
    yield stack
    await stack.stop()


@pytest.fixture(scope="session")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def ai_stack(redis_server: RedisServer, workdir: Path, fake_openai: FakeOpenAI) -> AsyncIterator[Stack]:
    stack = await start_stack("t-ai", redis_server.url, workdir, **ai_env(fake_openai))
    yield stack
    await stack.stop()


@pytest.fixture(scope="session")
def js_clients() -> Path:
    """tests/js with its npm packages installed (tests/support/node.py)."""
    return install_js_clients()
