"""A model's answer is checked before it is trusted: an answer without words fails the job
(AI_EMPTY_RESPONSE, refunded, nothing stored); one the model did not finish is stored marked
truncated, and the job's final message says why. Through the real `openai` client against the
fake OpenAI-compatible server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.samples import CV
from tests.support.auth import Caller
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import (
    create_questionnaire,
    execute,
    final_output,
    improve_from_questionnaire,
    job_response,
    stream_of,
)

REWRITE = "# Jane Doe\n\n## Experience\n\n- Led the billing service in Python.\n" * 5
USED = "{ rateLimitStatus { scope used } }"
RESPONSES = "query($id: ID!) { questionnaire(id: $id) { responses { id } } }"


async def _improve(stack, fake_openai: FakeOpenAI, name: str, answer: Stream) -> tuple[list[Any], str]:
    """Run one improvement under a questionnaire; its events and the questionnaire's id."""
    questionnaire = await create_questionnaire(stack.http)
    marker = fake_openai.script(name, answer)
    job = await improve_from_questionnaire(
        stack.http, questionnaire["id"], cvText=CV, prompt=f"{marker} Make it sharper, please."
    )
    return await stream_of(stack.ws, job["id"], after_seq=0), questionnaire["id"]


async def _ai_improvements_used(url: str) -> int:
    status = (await execute(url, USED))["rateLimitStatus"]
    return next(s["used"] for s in status if s["scope"] == "AI_IMPROVEMENTS")


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        # llama.cpp with a chat template that ends the turn at once: no content, then "stop".
        ("empty-nothing", Stream("")),
        ("empty-whitespace", Stream(" \n\n\t \n", chunk=2)),
        # Markdown marks and the contact details handed back, but not a word of a CV.
        ("empty-marks", Stream("# \n\n---\n\n**[EMAIL_1]** | [PHONE_1]\n\n- \n", chunk=3)),
    ],
)
async def test_an_answer_without_words_fails_refunded_and_stores_nothing(
    ai_stack, fake_openai: FakeOpenAI, own_caller, name, answer
):
    Caller.become(own_caller, "Free")
    events, questionnaire_id = await _improve(ai_stack, fake_openai, name, answer)
    last = events[-1]
    assert last["state"] == "FAILED" and last["error"]["code"] == "AI_EMPTY_RESPONSE", last
    assert not any(e["type"] == "RETRYING" for e in events)
    assert len(fake_openai.requests[name]) == 1
    assert await _ai_improvements_used(ai_stack.http) == 0
    assert await job_response(ai_stack.http, last["jobId"]) is None
    listed = await execute(ai_stack.http, RESPONSES, {"id": questionnaire_id})
    assert listed["questionnaire"]["responses"] == []


async def test_a_rewrite_cut_by_the_models_output_limit_is_marked_truncated(ai_stack, fake_openai):
    cut = Stream(REWRITE, finish_reason="length")
    events, _ = await _improve(ai_stack, fake_openai, "cut-by-length", cut)
    last = events[-1]
    assert last["state"] == "SUCCEEDED"
    assert last["message"] == "Done; the model's output limit cut the rewrite short"
    response = await job_response(ai_stack.http, last["jobId"])
    assert response["truncated"] is True and response["text"] == REWRITE == final_output(events)


async def test_a_stream_that_ends_without_a_finish_reason_is_marked_truncated(ai_stack, fake_openai):
    events, _ = await _improve(ai_stack, fake_openai, "no-finish", Stream(REWRITE, finish_reason=None))
    last = events[-1]
    assert last["state"] == "SUCCEEDED"
    assert last["message"] == "Done; the model's stream ended without saying the rewrite was complete"
    assert (await job_response(ai_stack.http, last["jobId"]))["truncated"] is True


async def test_a_finished_rewrite_is_whole(ai_stack, fake_openai):
    events, _ = await _improve(ai_stack, fake_openai, "finished", Stream(REWRITE))
    assert (events[-1]["state"], events[-1]["message"]) == ("SUCCEEDED", "Done")
    assert (await job_response(ai_stack.http, events[-1]["jobId"]))["truncated"] is False
