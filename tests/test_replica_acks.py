"""A job's event counts as written once a replica has it (jobs/core/replication.py).

Redis answers a write, and PUBLISHes it to subscribers, before its replica has it. When the
primary died at that moment, Sentinel promoted a replica without the event, the job's next event
took its seq there, and a subscriber that had received the lost event live dropped the new one
as a repeat: its output had a hole (tests/test_sentinel.py met it once in CI). Here the moment is
made on purpose: the replica is cut off (stopped, its link dropped) just before a write, so
that the write reaches its subscribers from the primary alone; then the primary dies. Each test
kills its own topology's primary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.redis_server import RedisServer, free_port
from tests.conftest import Stack, ai_env, start_stack
from tests.samples import CV
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import (
    GraphQLErrors,
    assert_contiguous,
    dashboard,
    dashboard_event,
    execute,
    final_output,
    improve_cv,
    stream_of,
    subscribe,
)
from tests.support.sentinel import SentinelTopology, sentinel_stack, sentinel_topology
from tests.test_metrics import scrape, total
from tests.test_redis_restart import TEXT

# Longer than the cut-off replica's moment below, however slow the machine; after the failover
# the promoted replica has no replica of its own, and the first write waits this long for none.
WAIT_MS = 3000


@pytest.fixture
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelTopology]:
    with sentinel_topology(tmp_path_factory.mktemp("replica-acks")) as topology:
        yield topology


@pytest.fixture
async def stack(topology: SentinelTopology, workdir: Path, fake_openai: FakeOpenAI) -> AsyncIterator[Stack]:
    env = {**ai_env(fake_openai), "REDIS_WAIT_MS": str(WAIT_MS), "WORKER_METRICS_PORT": str(free_port())}
    stack = await sentinel_stack("t-replica-acks", topology, workdir, **env)
    yield stack
    await stack.stop()


def without_time(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # An event sent again after the failover is the same event, but stamped by the new primary.
    return [{k: v for k, v in e.items() if k != "at"} for e in events]


async def test_an_output_only_the_dead_primary_had_is_written_again_at_its_seq(
    stack: Stack, topology: SentinelTopology, fake_openai: FakeOpenAI
) -> None:
    stream = Stream(TEXT, chunk=20, pause_after=0)  # nothing until the gate opens
    job = await improve_cv(stack.http, f"{CV}\n{fake_openai.script('acks', stream)}")
    async with subscribe(stack.ws, job["id"], after_seq=0) as sub:
        seen: list[dict[str, Any]] = []
        # The model's call has begun and its "Rewriting for ..." step is written (and replicated).
        while not seen or seen[-1]["stage"] != "generating":
            seen += await sub.take(1)
        await stream.started.wait()

        await asyncio.to_thread(topology.cut_off_replica)
        stream.gate.set()
        [first_output] = await sub.take(1)  # from the primary alone: the replica is cut off
        assert first_output["type"] == "OUTPUT", first_output
        seen.append(first_output)
        await asyncio.to_thread(topology.kill_primary)
        topology.resume_replica()
        killed = time.monotonic()
        seen += await sub.until_complete()
        print(f"\nkill -> last event {time.monotonic() - killed:.2f}s (REDIS_WAIT_MS {WAIT_MS})")

    assert_contiguous(seen, first=1)
    assert [e["type"] for e in seen].count("SUCCEEDED") == 1
    assert final_output(seen) == TEXT
    # The promoted replica's log is what the subscriber saw: the lost output was written again.
    logged = await stream_of(stack.ws, job["id"], after_seq=0)
    assert without_time(logged) == without_time(seen)
    assert [e["type"] for e in logged].count("STARTED") == 1, "the job ran once"

    # The promoted replica has no replica: its writes went on without one after REDIS_WAIT_MS.
    port = stack.env["WORKER_METRICS_PORT"]
    worker = await scrape(f"http://127.0.0.1:{port}/metrics")
    assert total(worker, "cvi_unreplicated_writes_total") >= 1


async def test_a_job_created_on_the_primary_alone_is_not_answered_as_created(
    stack: Stack, topology: SentinelTopology
) -> None:
    async with dashboard(stack.ws) as feed:
        await asyncio.to_thread(topology.cut_off_replica)
        creating = asyncio.create_task(improve_cv(stack.http, CV))
        created = await dashboard_event(feed)  # published by the primary, which alone has the job
        assert created["state"] == "QUEUED"
        assert not creating.done(), "answered before any replica had the job"
        await asyncio.to_thread(topology.kill_primary)
        topology.resume_replica()
        with pytest.raises(GraphQLErrors) as refused:
            await creating
    assert refused.value.codes == ["SERVICE_UNAVAILABLE"]  # try again: nothing was promised
    # What the caller was not told of is indeed gone; trying again after the failover works.
    await asyncio.to_thread(topology.await_promotion)
    with pytest.raises(GraphQLErrors) as missing:
        await execute(stack.http, "query($id: ID!) { job(id: $id) { id } }", {"id": created["jobId"]})
    assert missing.value.codes == ["NOT_FOUND"]
    again = await improve_cv(stack.http, CV)
    assert (await stream_of(stack.ws, again["id"], after_seq=0))[-1]["state"] == "SUCCEEDED"


async def test_a_redis_that_refuses_wait_slows_and_stops_nothing(
    redis_server: RedisServer, workdir: Path
) -> None:
    """An ACL user without WAIT (as some hosted Redis services have none): every write's WAIT is
    refused after the write was made (at once: REDIS_WAIT_MS here is a minute a write). Jobs run
    as without replicas, and the metric says so."""
    with redis.Redis.from_url(redis_server.url) as admin:
        admin.acl_setuser(
            "no-wait",
            enabled=True,
            passwords=["+pw"],
            keys=["*"],
            channels=["*"],
            commands=["+@all", "-wait"],
        )
    url = f"redis://no-wait:pw@127.0.0.1:{redis_server.port}/0"
    env = {"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_MS": "60000", "WORKER_METRICS_PORT": str(free_port())}
    stack = await start_stack("t-no-wait", url, workdir, **env)
    try:
        job = await improve_cv(stack.http, CV)  # its create's WAIT is refused
        events = await stream_of(stack.ws, job["id"], after_seq=0)
        assert events[-1]["state"] == "SUCCEEDED" and final_output(events)
        api = await scrape(f"{stack.api.base_url}/metrics")
        worker = await scrape(f"http://127.0.0.1:{env['WORKER_METRICS_PORT']}/metrics")
        assert total(api, "cvi_unreplicated_writes_total") >= 1
        assert total(worker, "cvi_unreplicated_writes_total") >= 1
    finally:
        await stack.stop()
