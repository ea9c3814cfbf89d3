"""Issue 13, point 5: a job's passing steps are folded into the event that follows them
(jobs/work/run.py), and a step that nothing follows soon is written when its time is up."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Stack, start_stack
from tests.samples import CV
from tests.support.fake_openai import Fail, FakeOpenAI, Stream
from tests.support.gql import assert_contiguous, improve_cv, stream_of, subscribe

REWRITE = "# Jane Doe\n\n## Experience\n\n- Led the billing service in Python.\n" * 6
# Long enough for a hang to be a failure, not for a held step to be late.
NEVER = 60.0


@pytest.fixture(scope="module")
async def patient_stack(redis_server, workdir) -> AsyncIterator[Stack]:
    """The offline engine, holding a passing step for a minute: whatever the machine's load, a
    step is folded into what follows it, never written because its time ran out."""
    stack = await start_stack("t-coalesced", redis_server.url, workdir, STREAM_FLUSH_MS="60000")
    yield stack
    await stack.stop()


def assert_forward(events: list[dict[str, Any]]) -> None:
    """What a client shows never goes back: progress, and the stage's place in the job."""
    order = ["queued", "analyzing", "generating", "finalizing", "done"]
    for before, after in itertools.pairwise(events):
        assert after["progress"] >= before["progress"], (before, after)
        assert order.index(after["stage"]) >= order.index(before["stage"]), (before, after)


async def test_an_offline_improve_job_writes_its_start_its_output_and_its_end(patient_stack):
    job = await improve_cv(patient_stack.http, CV)
    async with subscribe(patient_stack.ws, job["id"], after_seq=0) as sub:
        live = await sub.until_complete()
    assert_contiguous(live, first=1)
    types = [e["type"] for e in live]
    outputs = types.count("OUTPUT")
    assert outputs >= 1 and types == ["CREATED", "STARTED", *["OUTPUT"] * outputs, "SUCCEEDED"]
    created, started, first, *_, done = live
    assert (created["state"], created["stage"], created["progress"]) == ("QUEUED", "queued", 0)
    assert (started["state"], started["stage"], started["progress"]) == ("RUNNING", "analyzing", 0)
    # The analysis's two steps were replaced by "Rewriting for ...", which the first output carries.
    assert (first["stage"], first["progress"] >= 10) == ("generating", True)
    assert first["message"] == "Rewriting for Backend Engineer with offline-rewriter-1"
    assert all(e["message"] is None for e in live if e["type"] == "OUTPUT" and e is not first)
    # "Generated N characters" went with the success, whose own message wins.
    assert (done["state"], done["stage"], done["progress"]) == ("SUCCEEDED", "done", 100)
    assert done["message"] == "Done"
    assert_forward(live)
    # Replayed from the log, the job is what was live.
    assert await stream_of(patient_stack.ws, job["id"], after_seq=0) == live


async def test_a_failure_says_where_the_job_was(ai_stack, fake_openai: FakeOpenAI, own_caller):
    marker = fake_openai.script(f"coalesced-auth-{own_caller}", Fail(401, error_code="invalid_api_key"))
    job = await improve_cv(ai_stack.http, f"{CV}\n{marker}")
    events = await stream_of(ai_stack.ws, job["id"], after_seq=0)
    assert_contiguous(events, first=1)
    failed = events[-1]
    assert (failed["state"], failed["error"]["code"]) == ("FAILED", "AI_AUTH")
    # Written alone (its time was up) or carried by the failure: the job was generating.
    assert (failed["stage"], failed["progress"]) == ("generating", 10)
    assert_forward(events)


async def test_a_model_slow_to_begin_still_shows_that_it_is_rewriting(
    ai_stack, fake_openai: FakeOpenAI, own_caller
):
    """The fake server holds the model's first piece until the test lets it go: the held step is
    written by the worker's deadline thread (STREAM_FLUSH_MS), not by the output after it."""
    slow = Stream(REWRITE, chunk=40, pause_after=0)
    marker = fake_openai.script(f"coalesced-slow-{own_caller}", slow)
    job = await improve_cv(ai_stack.http, f"{CV}\n{marker}")
    async with subscribe(ai_stack.ws, job["id"], after_seq=0) as sub:
        events: list[dict[str, Any]] = []
        while not events or events[-1]["stage"] != "generating":
            events += await asyncio.wait_for(sub.take(1), NEVER)
        # The model has not sent a word yet: the gate opens below.
        rewriting = events[-1]
        assert (rewriting["type"], rewriting["progress"]) == ("PROGRESS", 10)
        assert rewriting["message"] == "Rewriting for Backend Engineer with fake-model"
        slow.gate.set()
        events += await sub.until_complete()
    assert_contiguous(events, first=1)
    assert events[-1]["state"] == "SUCCEEDED"
    outputs = [e for e in events if e["type"] == "OUTPUT"]
    # Written once: the first output does not say it again.
    assert outputs and all(e["message"] is None for e in outputs)
    assert "".join(e["delta"] for e in outputs) == REWRITE
    assert_forward(events)
