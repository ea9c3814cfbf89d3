"""Real processes for the tests: Celery workers and uvicorn servers, started the way an operator
would start them (`celery -A jobs worker`, `uvicorn asgi:app`) from outside the checkout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.redis_server import free_port

LOGS = Path(os.environ.get("TEST_LOG_DIR", "/tmp/cvimprover-test-logs"))


def _env(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REDIS_"))}
    env.update(base)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _log_file(name: str):
    LOGS.mkdir(parents=True, exist_ok=True)
    return open(LOGS / f"{name}.log", "ab")


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: object = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self, sig: int = signal.SIGTERM, grace: float = 30) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                await asyncio.to_thread(self.process.wait, grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                await asyncio.to_thread(self.process.wait)
        self.log.close()  # type: ignore[attr-defined]

    async def kill_hard(self) -> None:
        """SIGKILL to the whole process group: the machine 'vanishes' mid-job."""
        await self.stop(signal.SIGKILL)


def start_process(name: str, args: list[str], env: dict[str, str], cwd: Path) -> Proc:
    """`args` in a session of its own (stop() signals its whole group), in `cwd`, with `env` over this
    environment less its OPENAI_ and REDIS_ variables; its output goes to LOGS/<name>.log."""
    log = _log_file(name)
    process = subprocess.Popen(
        args,
        env=_env(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Proc(name, process, log)


def start_worker(
    name: str,
    env: dict[str, str],
    cwd: Path,
    pool: str = "threads",
    concurrency: int = 8,
    python: str = sys.executable,
) -> Proc:
    """`celery -A jobs worker` under `python` (by default this one: the checkout's install)."""
    args = [
        python,
        "-m",
        "celery",
        "-A",
        "jobs",
        "worker",
        "--loglevel=INFO",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--hostname={name}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    return start_process(name, args, env, cwd)


@dataclass
class Api:
    proc: Proc
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_beat(name: str, env: dict[str, str], cwd: Path) -> Proc:
    """`celery -A jobs beat`, its schedule's state in `cwd`."""
    schedule = str(cwd / f"{name}-schedule")
    args = [sys.executable, "-m", "celery", "-A", "jobs", "beat", "--loglevel=INFO", "--schedule", schedule]
    return start_process(name, args, env, cwd)


async def start_api(name: str, env: dict[str, str], cwd: Path, python: str = sys.executable) -> Api:
    port = free_port()
    args = [
        python,
        "-m",
        "uvicorn",
        "asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        # As the README's recipe has it (shorter): open HTTP streams do not hold a SIGTERM forever.
        "--timeout-graceful-shutdown",
        "3",
    ]
    api = Api(start_process(name, args, env, cwd), port)
    await wait_healthy(api)
    return api


async def wait_healthy(api: Api, limit: float = 30) -> None:
    """Until the process answers (/healthz)."""
    await _wait_for(api, "/healthz", "healthy", limit)


async def wait_ready(api: Api, limit: float = 30) -> None:
    """Until the process can serve jobs (/readyz: Redis, its listener, a worker answering)."""
    await _wait_for(api, "/readyz", "ready", limit)


async def _wait_for(api: Api, path: str, what: str, limit: float) -> None:
    # A new process offers no readiness event: probe `path` until it answers 200, or the process dies.
    async with httpx.AsyncClient() as client:
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            if api.proc.process.poll() is not None:
                raise RuntimeError(f"{api.proc.name} exited; see {LOGS}/{api.proc.name}.log")
            try:
                if (await client.get(f"{api.base_url}{path}")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{api.proc.name} not {what} in {limit}s")
            await asyncio.sleep(0.05)
