"""The per-process fan-out (C4) and scale-out across API replicas (C9)."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from jobs.core.names import Keys
from tests.samples import CV
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import (
    EVENT_FIELDS,
    GraphQLErrors,
    assert_contiguous,
    final_output,
    get_job,
    improve_cv,
    metric,
    stream_of,
    subscribe,
)
from tests.support.stuck_client import StuckClient


async def _paused_job(
    stack,
    fake_openai: FakeOpenAI,
    name: str,
    pause_after: int = 5,
    text: str = "A rewritten line of the CV.\n" * 40,
    chunk: int = 30,
    interval: float = 0.0,
):
    stream = Stream(text, chunk=chunk, pause_after=pause_after, interval=interval)
    job = await improve_cv(stack.http, f"{CV}\n{fake_openai.script(name, stream)}")
    return job, stream


async def test_one_pubsub_connection_per_api_process_serves_all_subscriptions(
    ai_stack, fake_openai, redis, own_caller
):
    paused = [await _paused_job(ai_stack, fake_openai, f"one-conn-{i}") for i in range(5)]
    async with contextlib_stack() as stack:
        subs = [
            await stack.enter_async_context(subscribe(ai_stack.ws, job["id"], after_seq=0))
            for job, _ in paused
            for _ in range(6)
        ]
        for sub in subs:
            await sub.take(1)
        assert await metric(ai_stack.api.base_url, "cvi_subscriptions") == 30
        clients = await redis.client_list()
        listeners = [c for c in clients if c["name"] == f"{ai_stack.prefix}-listener"]
        assert len(listeners) == 1
        # One subscription per job's channel, however many subscribers; and one to the caller's
        # erasure channel (silent until deleteMyData), one per user with a socket. (Counted per
        # channel: the total may still hold an earlier test's channel being let go.)
        keys = Keys(ai_stack.prefix)
        channels = [keys.job_channel(job["id"]) for job, _ in paused] + [keys.user_erased_channel(own_caller)]
        assert [count for _, count in await redis.pubsub_numsub(*channels)] == [1] * 6
        for _, stream in paused:
            stream.gate.set()
        for sub in subs:
            assert (await sub.until_complete())[-1]["state"] == "SUCCEEDED"
    assert await metric(ai_stack.api.base_url, "cvi_subscriptions") == 0


def contextlib_stack():
    import contextlib

    return contextlib.AsyncExitStack()


async def test_killing_the_pubsub_connection_mid_job_loses_no_event(ai_stack, fake_openai, redis):
    job, stream = await _paused_job(ai_stack, fake_openai, "kill-pubsub")
    reconnects = await metric(ai_stack.api.base_url, "cvi_listener_reconnects_total")
    async with (
        subscribe(ai_stack.ws, job["id"], after_seq=0) as first,
        subscribe(ai_stack.ws, job["id"], after_seq=0) as second,
    ):
        before = await first.take(3)
        killed = await redis.client_kill_filter(_type="pubsub", skipme=True)
        assert killed >= 1
        stream.gate.set()  # the rest is published while the listener reconnects
        events = before + await first.until_complete()
        other = await second.until_complete()
    assert_contiguous(events, first=1)
    assert other == events
    assert events[-1]["state"] == "SUCCEEDED"
    assert await metric(ai_stack.api.base_url, "cvi_listener_reconnects_total") > reconnects
    # The kill took the worker's own pub/sub connection (kombu's broadcasts) too: it reconnects
    # and goes on taking jobs.
    next_job, next_stream = await _paused_job(ai_stack, fake_openai, "after-kill-pubsub")
    next_stream.gate.set()
    assert (await stream_of(ai_stack.ws, next_job["id"]))[-1]["state"] == "SUCCEEDED"


async def test_a_subscriber_that_never_reads_is_dropped_without_delaying_others(ai_stack, fake_openai):
    # Big events and a short inbox, so that the stuck client's buffers fill quickly (1 MB of its
    # 8), and yet one the reader that keeps up never fills when its API stalls a moment.
    api = await ai_stack.add_api("small-queues", SUBSCRIBER_QUEUE_SIZE="256", STREAM_FLUSH_CHARS="4000")
    job, stream = await _paused_job(
        ai_stack, fake_openai, "never-reads", pause_after=1, text="x" * 8_000_000, chunk=4000, interval=0.001
    )
    stuck = StuckClient(api.port)
    await stuck.subscribe(
        f"subscription($j: ID!) {{ jobUpdates(jobId: $j, afterSeq: 0) {{ {EVENT_FIELDS} }} }}",
        {"j": job["id"]},
    )
    try:
        async with subscribe(api.ws_url, job["id"], after_seq=0) as reader:
            first = await reader.take(2)
            stream.gate.set()
            rest = await reader.until_complete()
        assert_contiguous(first + rest, first=1)
        assert len(final_output(first + rest)) == 8_000_000
        assert await metric(api.base_url, "cvi_dropped_subscribers_total") == 1
        assert await metric(api.base_url, "cvi_subscriptions") == 0
    finally:
        stuck.close()
        await api.proc.stop()


async def test_a_job_enqueued_through_one_api_streams_to_a_subscriber_on_another(offline_stack):
    second = await offline_stack.add_api("replica")
    job = await improve_cv(offline_stack.http, CV)
    events = await stream_of(second.ws_url, job["id"], after_seq=0)
    assert_contiguous(events, first=1)
    assert (await get_job(second.http_url, job["id"]))["state"] == "SUCCEEDED"
    await second.proc.stop()


async def test_subscription_to_unknown_or_malformed_job_fails_clearly(offline_stack):
    with pytest.raises(GraphQLErrors) as unknown:
        await stream_of(offline_stack.ws, "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11")
    assert unknown.value.codes == ["NOT_FOUND"]
    with pytest.raises(GraphQLErrors) as malformed:
        await stream_of(offline_stack.ws, "not-a-uuid")
    assert malformed.value.codes == ["BAD_USER_INPUT"]
    with pytest.raises(GraphQLErrors) as negative:
        await stream_of(offline_stack.ws, "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11", after_seq=-1)
    assert negative.value.codes == ["BAD_USER_INPUT"]


async def test_graphql_transport_ws_is_the_protocol_spoken(offline_stack):
    with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
        async with websockets.connect(offline_stack.ws, subprotocols=["graphql-ws"]) as ws:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4406


async def test_a_message_that_is_not_an_event_is_skipped_and_the_stream_goes_on(ai_stack, fake_openai, redis):
    # Anyone with access to Redis may PUBLISH on a job's channel; only the emit script should. Garbage
    # there must not end the process's one listener (and with it every live subscription).
    job, stream = await _paused_job(ai_stack, fake_openai, "garbage-on-channel")
    channel = f"{ai_stack.prefix}:events:{job['id']}"
    async with subscribe(ai_stack.ws, job["id"], after_seq=0) as sub:
        before = await sub.take(3)
        for garbage in (b"not json", b"{}", b'{"seq": "x"}', b"[1, 2]"):
            assert await redis.publish(channel, garbage) == 1
        stream.gate.set()
        events = before + await sub.until_complete()
    assert_contiguous(events, first=1)
    assert events[-1]["state"] == "SUCCEEDED"
