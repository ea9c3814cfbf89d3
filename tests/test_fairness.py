"""Issue 13, point 4: fair under load. A Premium job does not wait behind Free ones, one user's burst
does not hold back a plan-mate's job, and a task sent again keeps its plan's queue
(jobs/core/dispatch.py). The jobs are created while no worker runs, as a backlog is; then one worker
with one thread takes them one at a time, so the order of their STARTED events is the order the
queues gave them out."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from redis import Redis

from jobs.celery import create_celery
from jobs.core.dispatch import enqueue, queue_lists, route
from jobs.core.names import JobKind, Keys
from jobs.core.quotas import Plan
from jobs.work.sweeper import Sweeper
from settings import Settings
from tests.conftest import ai_env, stack_env, start_stack
from tests.samples import CV
from tests.support.auth import Caller
from tests.support.fake_openai import Stream
from tests.support.gql import improve_cv, stream_of, subscribe
from tests.support.processes import Api, start_api, start_worker

# Who queued each job (a job streams to its owner only).
_owners: dict[str, str] = {}


async def _queue_jobs(api: Api, user: str, plan: str, count: int) -> list[str]:
    Caller.become(user, plan)
    jobs = [(await improve_cv(api.http_url, CV))["id"] for _ in range(count)]
    _owners.update(dict.fromkeys(jobs, Caller.bearer))
    return jobs


async def _started_at(api: Api, job_ids: list[str]) -> dict[str, datetime]:
    """When each job's run began (the Redis clock of its STARTED event), once all have ended."""
    streams = await asyncio.gather(
        *(stream_of(api.ws_url, job_id, after_seq=0, token=_owners[job_id]) for job_id in job_ids)
    )
    started = {}
    for job_id, events in zip(job_ids, streams, strict=True):
        assert events[-1]["state"] == "SUCCEEDED", events[-1]
        started[job_id] = next(datetime.fromisoformat(e["at"]) for e in events if e["type"] == "STARTED")
    return started


async def _run_backlog(
    prefix: str, env: dict[str, str], workdir: Path, api: Api, jobs: list[str]
) -> dict[str, datetime]:
    """One worker, one thread, started on the backlog: when each job began."""
    worker = start_worker(f"{prefix}-worker", env, workdir, concurrency=1)
    try:
        return await _started_at(api, jobs)
    finally:
        await worker.stop()


async def test_a_premium_job_runs_before_the_free_backlog_queued_before_it(redis_server, workdir, own_caller):
    env = stack_env(redis_server.url, "t-fair-plan")
    api = await start_api("t-fair-plan-api", env, workdir)
    try:
        free = []
        for n in range(4):  # several Free users (3 improvements a day each), queued first
            free += await _queue_jobs(api, f"{own_caller}-free{n}", "Free", 2)
        [premium] = await _queue_jobs(api, f"{own_caller}-premium", "Premium", 1)
        started = await _run_backlog("t-fair-plan", env, workdir, api, [*free, premium])
    finally:
        await api.proc.stop()
    # No worker held anything when the jobs were queued: the first one given out is the Premium one.
    assert started[premium] < min(started[job] for job in free)


async def test_one_users_burst_does_not_hold_back_a_plan_mates_job(redis_server, workdir, own_caller):
    cap = 5
    env = {**stack_env(redis_server.url, "t-fair-user"), "MAX_ACTIVE_JOBS_PER_USER": str(cap)}
    api = await start_api("t-fair-user-api", env, workdir)
    try:
        first, *later = await _queue_jobs(api, f"{own_caller}-burst", "Basic", cap)
        [other] = await _queue_jobs(api, f"{own_caller}-other", "Basic", 1)
        started = await _run_backlog("t-fair-user", env, workdir, api, [first, *later, other])
    finally:
        await api.proc.stop()
    # Every user's first job before anyone's second: the burst's first, then the other user's.
    assert started[first] < started[other] < min(started[job] for job in later)


def _messages(redis: Redis, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]


async def test_a_lost_task_is_sent_again_to_its_plans_queue(redis_server, workdir, own_caller):
    prefix = "t-fair-sweep"
    env = stack_env(redis_server.url, prefix)
    keys = Keys(prefix)
    redis = Redis.from_url(redis_server.url)
    api = await start_api(f"{prefix}-api", env, workdir)
    try:
        [pro] = await _queue_jobs(api, f"{own_caller}-pro", "Pro", 1)
        [old] = await _queue_jobs(api, f"{own_caller}-old", "Basic", 1)
    finally:
        await api.proc.stop()
    # Routed by plan: a Pro user's first job in the Pro queue at the Pro band's first step.
    pro_list = f"{prefix}:celery:{queue_lists(keys.plan_queue('Pro'))[2]}"
    basic_list = f"{prefix}:celery:{queue_lists(keys.plan_queue('Basic'))[4]}"
    free_list = f"{prefix}:celery:{queue_lists(keys.plan_queue('Free'))[6]}"
    assert [m["headers"]["id"] for m in _messages(redis, pro_list)] == [pro]
    assert [m["headers"]["id"] for m in _messages(redis, basic_list)] == [old]
    # Both messages are lost (Redis lost its last second of AOF); `old` stands for a record written
    # before plans were kept. Their queueing grace has lapsed (the lease index says so).
    redis.delete(pro_list, basic_list)
    redis.hdel(keys.job(old), "plan")
    redis.zadd(keys.leases, {pro: 0, old: 0})
    settings = Settings(redis_url=redis_server.url, key_prefix=prefix, _env_file=None)
    sweeper = Sweeper(create_celery(settings), redis, settings)
    assert sorted(await asyncio.to_thread(sweeper.sweep)) == sorted([pro, old])
    assert [m["headers"]["id"] for m in _messages(redis, pro_list)] == [pro]
    assert [m["headers"]["id"] for m in _messages(redis, free_list)] == [old]
    redis.close()


async def test_a_copy_that_finds_its_job_running_is_looked_at_again_from_its_plans_queue(
    redis_server, workdir, fake_openai, own_caller, redis
):
    # A copy of a running job's task arrives (as a broker reconnect restores one): the runner's
    # lease is live, so the copy is sent again for later (jobs/work/tasks.py), and that re-send goes
    # to the queue and priority the copy came from, not to the default queue.
    prefix = "t-fair-held"
    keys = Keys(prefix)
    stack = await start_stack(prefix, redis_server.url, workdir, **ai_env(fake_openai))
    pushed: list[bytes] = []
    two_pushes = asyncio.Event()
    notifying = (await redis.config_get("notify-keyspace-events"))["notify-keyspace-events"]
    await redis.config_set("notify-keyspace-events", notifying + "Kl")
    watcher = redis.pubsub()
    try:
        Caller.become(f"{own_caller}-pro", "Pro")
        paused = Stream("A line of the rewritten CV.\n" * 50, chunk=20, pause_after=5)
        job = await improve_cv(stack.http, f"{CV}\n{fake_openai.script('held-copy', paused)}")
        async with subscribe(stack.ws, job["id"], after_seq=0) as sub:
            events: list[dict[str, Any]] = []
            while not any(e["type"] == "OUTPUT" for e in events):
                events += await sub.take(1)
            await watcher.psubscribe(f"__keyspace@*__:{prefix}:celery:{prefix}.jobs*")

            async def watch() -> None:
                async for message in watcher.listen():
                    if message["type"] == "pmessage" and message["data"] == b"lpush":
                        pushed.append(message["channel"].split(b":", 1)[1])
                        if len(pushed) == 2:
                            two_pushes.set()

            watching = asyncio.create_task(watch())
            settings = Settings(redis_url=redis_server.url, key_prefix=prefix, _env_file=None)
            copy = route(keys, Plan.PRO)
            await asyncio.to_thread(enqueue, create_celery(settings), JobKind.IMPROVE_CV, job["id"], copy)
            await two_pushes.wait()  # the copy, then its re-send
            watching.cancel()
            paused.gate.set()
            events += await sub.until_complete()
        pro_list = f"{prefix}:celery:{queue_lists(keys.plan_queue('Pro'))[2]}".encode()
        assert pushed == [pro_list, pro_list]
        assert [e["type"] for e in events].count("STARTED") == 1
    finally:
        await watcher.aclose()
        await redis.config_set("notify-keyspace-events", notifying)
        await stack.stop()
