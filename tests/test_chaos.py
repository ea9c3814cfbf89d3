"""Chaos (issue 8, point 8): jobs run while pool processes are SIGKILLed, Redis restarts and the
APIs' pub/sub connections are killed; every job still ends exactly once, and every subscriber,
on either API process, sees its end.

One round by default (well under a minute); CHAOS_ROUNDS=n (read by this test only) runs more.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack, ai_env
from tests.samples import CV
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import assert_contiguous, improve_cv, stream_of, subscribe
from tests.support.processes import Api
from tests.support.restartable_redis import RestartableRedis, module_redis, two_api_stack

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "1"))
JOBS_PER_ROUND = 6
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
# A model's pace: each job streams for about a second, so the chaos meets jobs mid-output.
TEXT = "A line of the rewritten CV.\n" * 40


restartable = module_redis("chaos-redis")


@pytest.fixture(scope="module")
async def stack(
    restartable: RestartableRedis, workdir: Path, fake_openai: FakeOpenAI
) -> AsyncIterator[Stack]:
    # Short leases, so a job whose pool process was killed is taken over in seconds.
    stack = await two_api_stack(
        "t-chaos",
        restartable,
        workdir,
        **ai_env(fake_openai),
        JOB_LEASE_SECONDS="2",
        JOB_SWEEP_INTERVAL_SECONDS="0.5",
    )
    yield stack
    await stack.stop()


def pool_children(stack: Stack) -> list[int]:
    main = stack.workers[0].pid
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return [int(pid) for pid in children]


def kill_a_pool_child(stack: Stack) -> None:
    children = pool_children(stack)
    assert children, "the worker has no pool processes"
    os.kill(children[0], signal.SIGKILL)


async def follow(api: Api, job_id: str, following: asyncio.Event) -> list[dict[str, Any]]:
    """The job's events, from its first on; `following` is set once the first arrived (the
    subscription is live: the chaos does not meet a socket still in its handshake)."""
    try:
        async with subscribe(api.ws_url, job_id, after_seq=0) as sub:
            first = await sub.take(1)
            following.set()
            return first + await sub.until_complete()
    finally:
        following.set()  # a follower that failed is not waited for: its task raises instead


async def kill_pubsub(restartable: RestartableRedis) -> None:
    async with restartable.client() as client:
        await client.execute_command("CLIENT KILL", "TYPE", "pubsub")


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_chaos_ends_every_job_once_and_every_subscriber_sees_it(
    stack: Stack, restartable: RestartableRedis, fake_openai: FakeOpenAI, round_: int
) -> None:
    jobs = []
    for i in range(JOBS_PER_ROUND):
        marker = fake_openai.script(f"chaos-{round_}-{i}", Stream(TEXT, chunk=10, interval=0.01))
        jobs.append((await improve_cv(stack.http, f"{CV}\n{marker}"))["id"])
    apis = [stack.api, *stack.extra_apis]
    live = {(api.port, job_id): asyncio.Event() for job_id in jobs for api in apis}
    followers = {
        (api.port, job_id): asyncio.create_task(follow(api, job_id, live[(api.port, job_id)]))
        for job_id in jobs
        for api in apis
    }
    await asyncio.gather(*(following.wait() for following in live.values()))
    # The chaos schedule is a matter of time, not of events: jobs are mid-output by then.
    await asyncio.sleep(0.5)
    kill_a_pool_child(stack)
    await asyncio.sleep(0.5)
    await restartable.restart(outage=1.0)
    await asyncio.sleep(0.5)
    await kill_pubsub(restartable)
    kill_a_pool_child(stack)
    seen = {key: await task for key, task in followers.items()}
    for (_, job_id), events in seen.items():
        assert events and events[-1]["type"] in TERMINAL, (job_id, [e["type"] for e in events])
    for job_id in jobs:
        logged = await stream_of(stack.ws, job_id, after_seq=0)
        assert_contiguous(logged, first=1)
        assert sum(e["type"] in TERMINAL for e in logged) == 1, [e["type"] for e in logged]
        for api in apis:
            assert seen[(api.port, job_id)] == logged
    assert stack.workers[0].process.poll() is None, "the worker died"
