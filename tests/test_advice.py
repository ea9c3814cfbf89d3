"""Advice for the candidate lives in the response's `advice`, never in its text, its streamed
output or its PDF: on the offline engine, and on the OpenAI engine through the real client
against the fake server, the advice marker cut across chunks."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from jobs.engines.base import ADVICE_MARKER
from tests.samples import CV, JOB_DESCRIPTION
from tests.support.auth import authorization
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.flows import render
from tests.support.gql import assert_contiguous, execute, final_output, get_job, improve_cv, stream_of

RESPONSE = "query($id: ID!) { job(id: $id) { response { id text advice } } }"
REWRITE = "# Jane Doe\n\n[EMAIL_1]\n\n## Experience\n\n- Led the billing service in Python.\n"
ADVICE = (
    f"\n**{ADVICE_MARKER}**\n- Check the 30% figure before sending.\n\n* Mention AWS only if you used it.\n"
)


async def _improve(stack, cv_text: str, **extra) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    job = await improve_cv(stack.http, cv_text, **extra)
    events = await stream_of(stack.ws, job["id"], after_seq=0)
    assert_contiguous(events, first=1)
    assert events[-1]["state"] == "SUCCEEDED", events[-1]
    return events, await _response(stack, job["id"])


async def _response(stack, job_id: str) -> dict[str, Any]:
    return (await execute(stack.http, RESPONSE, {"id": job_id}))["job"]["response"]


async def _pdf_text(stack, response_id: str) -> str:
    events, pdf = await render(stack, response_id)
    assert events[-1]["state"] == "SUCCEEDED", events[-1]
    async with httpx.AsyncClient(base_url=stack.api.base_url) as client:
        content = (await client.get(pdf["url"], headers=authorization(None))).content
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def test_the_offline_engines_advice_is_a_field_of_its_own(offline_stack):
    events, response = await _improve(
        offline_stack, CV, position="Senior Python Engineer", jobDescription=JOB_DESCRIPTION
    )
    (advice,) = response["advice"]
    assert advice.startswith("Terms from the job description that the CV does not show yet")
    assert "aws" in advice and "node.js" in advice
    assert final_output(events) == response["text"]
    for shown in (response["text"], await _pdf_text(offline_stack, response["id"])):
        assert "Suggestions" not in shown and "aws" not in shown.lower() and "add them only" not in shown
        assert "Jane Doe" in shown and "Experience" in shown


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
async def test_the_models_advice_is_split_off_while_streaming(ai_stack, fake_openai: FakeOpenAI, chunk):
    answer = REWRITE + ADVICE
    assert any(ADVICE_MARKER not in answer[i : i + chunk] for i in range(0, len(answer), chunk))
    marker = fake_openai.script(f"advice-{chunk}", Stream(answer, chunk=chunk))
    events, response = await _improve(ai_stack, f"{CV}\n{marker}")
    cv = REWRITE.replace("[EMAIL_1]", "jane.doe@example.com")
    # Not a character of the advice, nor of its marker's line, was ever streamed as CV text.
    outputs = [e["delta"] for e in events if e["type"] == "OUTPUT"]
    assert "".join(outputs) == final_output(events) == response["text"] == cv + "\n"
    assert response["advice"] == ["Check the 30% figure before sending.", "Mention AWS only if you used it."]
    pdf = await _pdf_text(ai_stack, response["id"])
    assert "Led the billing service in Python." in pdf
    assert "30%" not in pdf and "AWS" not in pdf and "ADVICE" not in pdf


async def test_advice_gets_contact_details_back_and_an_answer_of_advice_alone_is_empty(
    ai_stack, fake_openai: FakeOpenAI
):
    marker = fake_openai.script(
        "advice-placeholders", Stream(f"{REWRITE}{ADVICE_MARKER}\n- Use [EMAIL_1] on every page\n")
    )
    _, response = await _improve(ai_stack, f"{CV}\n{marker}")
    assert response["advice"] == ["Use jane.doe@example.com on every page"]
    marker = fake_openai.script("advice-only", Stream(f"{ADVICE_MARKER}\n- Rewrite it yourself\n"))
    job = await improve_cv(ai_stack.http, f"{CV}\n{marker}")
    events = await stream_of(ai_stack.ws, job["id"])
    assert events[-1]["state"] == "FAILED"
    assert (await get_job(ai_stack.http, job["id"]))["error"]["code"] == "AI_EMPTY_RESPONSE"
    assert not [e for e in events if e["type"] == "OUTPUT"]


async def test_a_response_stored_before_advice_existed_reads_with_none(offline_stack, redis):
    job = await improve_cv(offline_stack.http, CV, position="Senior Python Engineer")
    assert (await stream_of(offline_stack.ws, job["id"]))[-1]["state"] == "SUCCEEDED"
    response = await _response(offline_stack, job["id"])
    key = f"{offline_stack.prefix}:response:{response['id']}"
    assert await redis.hdel(key, "advice") == 1
    assert await _response(offline_stack, job["id"]) == {**response, "advice": []}
