"""C6: workers may die at any point; cancelling stops the work."""

from __future__ import annotations

import pytest

from tests.conftest import ai_env, stack_env, start_stack
from tests.samples import CV
from tests.support.fake_openai import Stream
from tests.support.gql import (
    GraphQLErrors,
    assert_contiguous,
    cancel_job,
    final_output,
    get_job,
    improve_cv,
    stream_of,
    subscribe,
)
from tests.support.processes import start_api, start_worker

TEXT = "A line of the rewritten CV.\n" * 50


async def test_a_job_whose_worker_is_killed_is_redelivered_and_succeeds_once(
    redis_server, workdir, fake_openai
):
    # A prefork worker, as deployed; a short visibility timeout so the test need not wait an hour.
    stack = await start_stack(
        "t-kill",
        redis_server.url,
        workdir,
        pool="prefork",
        **ai_env(fake_openai),
        BROKER_VISIBILITY_TIMEOUT="4",
        BROKER_RESTORE_INTERVAL="1",
        JOB_LEASE_SECONDS="2",  # the killed run's lease lapses soon, so the copy may take over
    )
    try:
        first_try = Stream(TEXT, chunk=20, pause_after=5)
        marker = fake_openai.script("worker-killed", first_try, Stream(TEXT, chunk=20))
        job = await improve_cv(stack.http, f"{CV}\n{marker}")
        async with subscribe(stack.ws, job["id"], after_seq=0) as sub:
            events = []
            while not any(e["type"] == "OUTPUT" for e in events):
                events += await sub.take(1)
            await stack.workers[0].kill_hard()  # mid-output, no chance to clean up
            await stack.add_worker("replacement", pool="prefork", concurrency=2)
            events += await sub.until_complete()
        assert_contiguous(events, first=1)
        assert [e["type"] for e in events].count("SUCCEEDED") == 1
        assert [e["type"] for e in events].count("STARTED") == 2
        final = await get_job(stack.http, job["id"])
        assert final["state"] == "SUCCEEDED" and final["attempts"] == 2
        assert final["result"]["text"] == TEXT == final_output(events)
    finally:
        await stack.stop()


async def test_cancelling_a_running_job_stops_its_output(ai_stack, fake_openai):
    # Paced like a real model, so the stream is still going when the worker notices.
    stream = Stream(TEXT * 20, chunk=20, pause_after=4, interval=0.002)
    job = await improve_cv(ai_stack.http, f"{CV}\n{fake_openai.script('cancelled', stream)}")
    async with subscribe(ai_stack.ws, job["id"], after_seq=0) as sub:
        events = []
        while not any(e["type"] == "OUTPUT" for e in events):
            events += await sub.take(1)
        cancelled = await cancel_job(ai_stack.http, job["id"])
        assert cancelled["state"] == "CANCELLED"
        stream.gate.set()  # the model would go on; the worker must not
        events += await sub.until_complete()
    assert_contiguous(events, first=1)
    assert events[-1]["type"] == "CANCELLED"
    assert (await get_job(ai_stack.http, job["id"]))["state"] == "CANCELLED"
    # The worker closed the model's stream instead of reading it to the end.
    await fake_openai.wait_abandoned("cancelled")
    # Nothing was written after the cancellation, however late the worker noticed.
    assert await stream_of(ai_stack.ws, job["id"], after_seq=0) == events


async def test_cancelling_a_finished_job_is_a_clear_error(offline_stack):
    job = await improve_cv(offline_stack.http, CV)
    await stream_of(offline_stack.ws, job["id"])
    with pytest.raises(GraphQLErrors) as error:
        await cancel_job(offline_stack.http, job["id"])
    assert error.value.codes == ["JOB_FINISHED"]
    assert (await get_job(offline_stack.http, job["id"]))["state"] == "SUCCEEDED"


async def test_a_job_whose_task_was_lost_before_any_worker_took_it_is_sent_again(
    redis_server, workdir, redis
):
    # The API enqueues with no worker running; then the queue loses the message (as Redis loses
    # its last second of AOF in a crash). The record still says QUEUED, and the workers' sweeper
    # sends its task again once the queueing grace has passed.
    env = {**stack_env(redis_server.url, "t-lost-task"), "JOB_QUEUED_GRACE_SECONDS": "1"}
    api = await start_api("t-lost-task-api", env, workdir)
    worker = None
    try:
        job = await improve_cv(api.http_url, CV)
        # A Premium caller's first job: its plan's queue, priority 0 (kombu's list without a suffix).
        queue = "t-lost-task:celery:t-lost-task.jobs.premium"
        assert await redis.llen(queue) == 1
        await redis.delete(queue)
        worker = start_worker("t-lost-task-worker", {**env, "JOB_SWEEP_INTERVAL_SECONDS": "0.2"}, workdir)
        events = await stream_of(api.ws_url, job["id"], after_seq=0)
        assert_contiguous(events, first=1)
        assert [e["type"] for e in events].count("STARTED") == 1
        assert events[-1]["state"] == "SUCCEEDED"
    finally:
        await api.proc.stop()
        if worker is not None:
            await worker.stop()
