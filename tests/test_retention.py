"""Retention: with RETENTION_DAYS set, Celery beat has a worker erase finished jobs older than that
with everything they made and read (the atomic delete of jobs/core/deletes.py); newer ones stay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.conftest import Stack, start_stack
from tests.samples import CV
from tests.support.gql import execute, improve_cv, stream_of
from tests.support.processes import start_beat

RETENTION_SECONDS = 4.0


@pytest.fixture(scope="module")
async def kept_briefly(redis_server, workdir) -> AsyncIterator[Stack]:
    env = {
        "RETENTION_DAYS": str(RETENTION_SECONDS / 86_400),
        "RETENTION_INTERVAL_SECONDS": "0.5",
    }
    stack = await start_stack("t-retention", redis_server.url, workdir, **env)
    beat = start_beat("t-retention-beat", stack.env, workdir)
    yield stack
    await beat.stop()
    await stack.stop()


async def _keys_naming(redis: Redis, prefix: str, ids: list[str]) -> list[str]:
    found = [k.decode() async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    named = [k for k in found if any(i in k for i in ids)]
    # Indexes name ids as members, not in their key names.
    for index in (f"{prefix}:finished", f"{prefix}:leases"):
        named += [f"{index} -> {i}" for i in ids if await redis.zscore(index, i) is not None]
    return named


async def test_finished_jobs_older_than_the_retention_are_erased_and_newer_ones_stay(kept_briefly, redis):
    old = await improve_cv(kept_briefly.http, CV)
    assert (await stream_of(kept_briefly.ws, old["id"]))[-1]["state"] == "SUCCEEDED"
    query = "query($id: ID!) { job(id: $id) { response { id } } }"
    made = await execute(kept_briefly.http, query, {"id": old["id"]})
    ids = [old["id"], made["job"]["response"]["id"]]  # the job, and the response it made
    assert len(await _keys_naming(redis, "t-retention", ids)) >= 3  # record, log, response, indexes
    # The sweep runs every half second; the job is due RETENTION_SECONDS after it finished.
    for _ in range(400):
        if not await _keys_naming(redis, "t-retention", ids):
            break
        await asyncio.sleep(0.05)
    assert await _keys_naming(redis, "t-retention", ids) == []
    new = await improve_cv(kept_briefly.http, CV)
    assert (await stream_of(kept_briefly.ws, new["id"]))[-1]["state"] == "SUCCEEDED"
    assert await _keys_naming(redis, "t-retention", [new["id"]])  # finished just now: kept
