"""Flower (the optional extra) sees the work: `celery -A jobs flower` against the stack's Redis, the
way the README starts it, lists the tasks of a job this test ran through its HTTP API, by their
kind's task name and the job id alone (task events are on; the CV is nowhere in what it shows)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devstack.redis_server import free_port
from tests.conftest import Stack, start_stack
from tests.samples import CV
from tests.support.gql import improve_cv, stream_of
from tests.support.processes import start_process

AUTH = ("ops", "probe-password")


@pytest.fixture
async def stack(redis_server, workdir) -> AsyncIterator[Stack]:
    stack = await start_stack("t-flower", redis_server.url, workdir)
    yield stack
    await stack.stop()


async def _until(client: httpx.AsyncClient, path: str, found: Any, limit: float = 30) -> Any:
    """Flower's answer at `path` once `found(answer)` holds; Flower gives no event to wait for."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        try:
            response = await client.get(path)
            if response.status_code == 200 and found(response.json()):
                return response.json()
        except httpx.TransportError:
            pass
        assert asyncio.get_running_loop().time() < deadline, f"Flower never showed it at {path}"
        await asyncio.sleep(0.1)


async def test_flower_lists_a_jobs_task_by_kind_and_id(stack: Stack) -> None:
    port = free_port()
    args = [sys.executable, "-m", "celery", "-A", "jobs", "flower", f"--port={port}", "--address=127.0.0.1"]
    flower = start_process("t-flower-flower", [*args, f"--basic-auth={':'.join(AUTH)}"], stack.env, stack.cwd)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=AUTH, timeout=10) as client:
            # Listening to events once the worker's heartbeat reached it: the job's events will too.
            await _until(client, "/api/workers?status=1", lambda workers: any(workers.values()))
            job = await improve_cv(stack.http, CV)
            await stream_of(stack.ws, job["id"])
            tasks = await _until(
                client, "/api/tasks", lambda tasks: tasks.get(job["id"], {}).get("state") == "SUCCESS"
            )
        task = tasks[job["id"]]
        assert (task["name"], task["args"], task["kwargs"]) == ("jobs.improve_cv", f"['{job['id']}']", "{}")
        assert "jane.doe@example.com" not in str(tasks) and "Jane Doe" not in str(tasks)
    finally:
        await flower.stop()
