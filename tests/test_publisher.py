"""graph/domain/publisher.py against a real Redis broker: a task published from the publisher's thread is
the very message `dispatch.enqueue` sends (so a worker reads it as before), concurrent jobs are all sent
in the order they were asked for, and a publish that fails raises in its caller (launch.py then fails the
job with ENQUEUE_FAILED)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from devstack.redis_server import free_port
from graph.domain.publisher import Publisher, PublishTimeout
from jobs.celery import create_celery
from jobs.core.dispatch import enqueue, route
from jobs.core.names import JobKind, Keys
from jobs.core.quotas import Plan
from settings import Settings

PREFIX = "t-publisher"


@pytest.fixture
def app(redis_server) -> Iterator[Celery]:
    app = create_celery(Settings(redis_url=redis_server.url, key_prefix=PREFIX))
    yield app
    app.close()


def _comparable(raw: bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    # kombu draws a delivery tag per message sent, and Celery's reply_to names the sending thread
    # (app.thread_oid: it differed already between the default executor's threads); the rest is the task's.
    message["properties"].pop("delivery_tag")
    message["properties"].pop("reply_to")
    return message


async def test_the_message_is_the_one_enqueue_sends_and_jobs_keep_their_order(app, redis):
    to = route(Keys(PREFIX), Plan.PREMIUM)
    queue = f"{PREFIX}:celery:{to.queue}"
    await redis.delete(queue)
    await asyncio.to_thread(enqueue, app, JobKind.IMPROVE_CV, "job-0", to, "request-0")
    publisher = Publisher(app)
    try:
        await publisher.enqueue(JobKind.IMPROVE_CV, "job-0", to, "request-0")
        await asyncio.gather(*(publisher.enqueue(JobKind.IMPROVE_CV, f"job-{i}", to) for i in range(1, 41)))
    finally:
        publisher.close()
    # kombu pushes on the left: the oldest message is the rightmost.
    sent = list(reversed(await redis.lrange(queue, 0, -1)))
    assert len(sent) == 42
    assert _comparable(sent[1]) == _comparable(sent[0])
    assert [json.loads(raw)["headers"]["id"] for raw in sent[2:]] == [f"job-{i}" for i in range(1, 41)]


async def test_a_publish_that_fails_raises_in_its_caller():
    # A broker nobody listens on: kombu's publish gives up after its retries.
    app = create_celery(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", key_prefix=PREFIX))
    publisher = Publisher(app)
    try:
        with pytest.raises(Exception) as refused:
            await publisher.enqueue(JobKind.IMPROVE_CV, "job-x", route(Keys(PREFIX), Plan.FREE))
        assert not isinstance(refused.value, AssertionError)
    finally:
        publisher.close()
        app.close()


async def test_a_publish_that_hangs_fails_its_caller_in_time_and_the_next_one_goes_out(app, redis):
    # A broker that accepts the connection and never answers (a half-open connection after a
    # failover): kombu would wait for as long as TCP takes to give up.
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda _reader, writer: accepted.append(writer), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    hanging = create_celery(Settings(redis_url=f"redis://127.0.0.1:{port}/0", key_prefix=PREFIX))
    stuck = Publisher(hanging, patience=0.5)
    try:
        with pytest.raises(PublishTimeout):
            await stuck.enqueue(JobKind.IMPROVE_CV, "job-hung", route(Keys(PREFIX), Plan.FREE))
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
        hanging.close()
    # A publisher of a healthy broker is not held up by it.
    to = route(Keys(PREFIX), Plan.PREMIUM)  # priority 0: the queue's own list
    await redis.delete(f"{PREFIX}:celery:{to.queue}")
    publisher = Publisher(app, patience=5)
    try:
        await publisher.enqueue(JobKind.IMPROVE_CV, "job-after", to)
    finally:
        publisher.close()
    assert await redis.llen(f"{PREFIX}:celery:{to.queue}") == 1
