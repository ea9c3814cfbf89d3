"""C11 (issue 11, point 5): the Redis primary dies and Sentinel promotes its replica.

A primary, a replica and three sentinels of the module's own, and a stack that reaches Redis
through the sentinels alone (tests/support/sentinel.py). Jobs are mid-stream with live
subscribers when the primary gets SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack, ai_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.gql import assert_contiguous, final_output, stream_of, subscribe
from tests.support.sentinel import DOWN_AFTER_MS, SentinelTopology, sentinel_stack, sentinel_topology
from tests.test_redis_restart import TERMINAL, TEXT, started_jobs, until_output

# The jobs are the Redis restart test's: each paused mid-output until its gate opens.
JOBS = 3
SUBSCRIBERS_PER_JOB = 2


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    with sentinel_topology(tmp_path_factory.mktemp("sentinel")) as topology:
        yield topology


@pytest.fixture(scope="module")
async def stack(topology: SentinelTopology, workdir: Path, fake_openai: FakeOpenAI) -> AsyncIterator[Stack]:
    stack = await sentinel_stack("t-sentinel", topology, workdir, **ai_env(fake_openai))
    yield stack
    await stack.stop()


def assert_ended_once(events: list[dict[str, Any]]) -> None:
    assert_contiguous(events, first=1)
    types = [e["type"] for e in events]
    assert [t for t in types if t in TERMINAL] == ["SUCCEEDED"], types
    assert final_output(events) == TEXT


async def test_a_failover_mid_jobs_ends_each_job_once_and_every_subscriber_sees_it(
    stack: Stack, topology: SentinelTopology, fake_openai: FakeOpenAI
) -> None:
    jobs = await started_jobs(stack, fake_openai, "failover", JOBS)
    async with contextlib.AsyncExitStack() as subs:
        watching = [
            (job["id"], await subs.enter_async_context(subscribe(stack.ws, job["id"], after_seq=0)))
            for job, _ in jobs
            for _ in range(SUBSCRIBERS_PER_JOB)
        ]
        seen = {id(sub): await until_output(sub) for _, sub in watching}
        old_primary = topology.primary.port
        await asyncio.to_thread(topology.kill_primary)
        killed = time.monotonic()
        for _, stream in jobs:
            stream.gate.set()  # the worker's next writes meet a dead primary
        firsts = [asyncio.create_task(sub.take(1)) for _, sub in watching]
        await asyncio.wait(firsts, return_when=asyncio.FIRST_COMPLETED)
        first_event = time.monotonic() - killed
        for (_, sub), first in zip(watching, firsts, strict=True):
            seen[id(sub)] += await first
            seen[id(sub)] += await sub.until_complete()
        last_event = time.monotonic() - killed
    promoted = await asyncio.to_thread(topology.primary_port)
    print(
        f"\nkill -> first event {first_event:.2f}s, -> last terminal event {last_event:.2f}s "
        f"(down-after-milliseconds {DOWN_AFTER_MS}, {JOBS} jobs x {SUBSCRIBERS_PER_JOB} subscribers)"
    )
    assert promoted == topology.replica.port != old_primary
    for job_id, sub in watching:
        assert_ended_once(seen[id(sub)])
        # The log on the promoted replica holds what the live stream delivered.
        assert await stream_of(stack.ws, job_id, after_seq=0) == seen[id(sub)]
    assert stack.workers[0].process.poll() is None, "the worker died"

    # After the failover, a new job goes through the API's pool, Celery's broker and the workers'
    # clients, all on the promoted replica.
    [(job, stream)] = await started_jobs(stack, fake_openai, "after-failover", 1)
    stream.gate.set()
    assert_ended_once(await stream_of(stack.ws, job["id"], after_seq=0))
