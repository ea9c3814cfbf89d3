"""The spine: mutation -> Celery worker -> Redis pub/sub -> GraphQL subscription (C1, C2, C3)."""

from __future__ import annotations

import asyncio

from tests.samples import CV, JOB_DESCRIPTION
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import assert_contiguous, final_output, get_job, improve_cv, stream_of, subscribe


async def test_mutation_returns_queued_job_at_once(offline_stack):
    job = await improve_cv(offline_stack.http, CV, "Senior Python Engineer", jobDescription=JOB_DESCRIPTION)
    assert job["kind"] == "IMPROVE_CV"
    assert job["state"] == "QUEUED"
    assert job["seq"] == 1
    assert job["progress"] == 0
    assert len(job["id"]) == 36 and job["id"][14] == "4"  # a uuid4
    assert job["createdAt"]


async def test_subscription_receives_every_event_from_seq_1_to_the_terminal_one(offline_stack):
    job = await improve_cv(offline_stack.http, CV, "Senior Python Engineer", jobDescription=JOB_DESCRIPTION)
    events = await stream_of(offline_stack.ws, job["id"], after_seq=0)

    assert_contiguous(events, first=1)
    types = [e["type"] for e in events]
    assert types[0] == "CREATED" and types[1] == "STARTED" and types[-1] == "SUCCEEDED"
    assert "OUTPUT" in types
    # "finalizing" is a passing step, folded into SUCCEEDED when that follows at once (jobs/work/run.py).
    assert {e["stage"] for e in events} >= {"queued", "analyzing", "generating", "done"}
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 100
    final = await get_job(offline_stack.http, job["id"])
    streamed = final_output(events)
    assert final["state"] == "SUCCEEDED"
    assert final["result"]["text"] == streamed
    assert "## Experience" in streamed and "Owned the billing service" in streamed
    assert final["attempts"] == 1


async def test_subscribing_after_the_end_yields_the_final_state_and_completes(offline_stack):
    job = await improve_cv(offline_stack.http, CV)
    full = await stream_of(offline_stack.ws, job["id"], after_seq=0)

    assert await stream_of(offline_stack.ws, job["id"]) == [full[-1]]
    assert await stream_of(offline_stack.ws, job["id"], after_seq=0) == full
    assert await stream_of(offline_stack.ws, job["id"], after_seq=3) == full[3:]
    assert await stream_of(offline_stack.ws, job["id"], after_seq=full[-1]["seq"]) == []


async def test_late_subscribers_mid_job_get_exactly_the_missing_events(ai_stack, fake_openai: FakeOpenAI):
    stream = Stream("Rewritten CV line.\n" * 60, chunk=40, pause_after=10)
    marker = fake_openai.script("late-subscriber", stream)
    job = await improve_cv(ai_stack.http, f"{CV}\n{marker}")
    async with subscribe(ai_stack.ws, job["id"], after_seq=0) as first:
        await stream.started.wait()
        seen = []
        while not seen or seen[-1]["type"] != "OUTPUT":
            seen += await first.take(1)
        # The job is now paused mid-output: join late, with and without afterSeq.
        current = await get_job(ai_stack.http, job["id"])
        async with (
            subscribe(ai_stack.ws, job["id"]) as late,
            subscribe(ai_stack.ws, job["id"], after_seq=2) as resumed,
        ):
            head = await late.take(1)
            assert head[0]["seq"] == current["seq"]  # the current state first
            stream.gate.set()
            rest_of_late = await late.until_complete()
            from_resumed = await resumed.until_complete()
        everything = seen + await first.until_complete()

    assert_contiguous(everything, first=1)
    assert head + rest_of_late == everything[current["seq"] - 1 :]
    assert from_resumed == everything[2:]


async def test_200_subscribers_across_20_jobs_each_receive_their_complete_stream(offline_stack):
    jobs = await asyncio.gather(*(improve_cv(offline_stack.http, f"{CV}\nJob {i}") for i in range(20)))
    streams = await asyncio.gather(
        *(stream_of(offline_stack.ws, job["id"], after_seq=0) for job in jobs for _ in range(10))
    )
    for index, events in enumerate(streams):
        job = jobs[index // 10]
        assert {e["jobId"] for e in events} == {job["id"]}
        assert_contiguous(events, first=1)
        assert events[-1]["state"] == "SUCCEEDED"
    by_job = {}
    for index, events in enumerate(streams):
        by_job.setdefault(index // 10, []).append(events)
    for copies in by_job.values():
        assert all(c == copies[0] for c in copies)
