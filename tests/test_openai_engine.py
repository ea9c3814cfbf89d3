"""The OpenAI engine through the real `openai` client against a fake OpenAI-compatible server."""

from __future__ import annotations

import pytest

from tests.conftest import ai_env, start_stack
from tests.samples import CV
from tests.support.fake_openai import Fail, FakeOpenAI, Hang, Stream
from tests.support.gql import assert_contiguous, final_output, get_job, improve_cv, stream_of

REWRITE = "# Jane Doe\n\n## Experience\n\n- Led the billing service in Python.\n" * 20


async def _run(stack, fake_openai: FakeOpenAI, name: str, *script):
    job = await improve_cv(stack.http, f"{CV}\n{fake_openai.script(name, *script)}")
    events = await stream_of(stack.ws, job["id"], after_seq=0)
    assert_contiguous(events, first=1)
    return events, await get_job(stack.http, job["id"])


async def test_streamed_chunks_become_coalesced_output_deltas(ai_stack, fake_openai):
    events, job = await _run(ai_stack, fake_openai, "stream", Stream(REWRITE, chunk=5))
    outputs = [e for e in events if e["type"] == "OUTPUT"]
    assert final_output(events) == REWRITE == job["result"]["text"]
    assert job["result"]["model"] == "fake-model"
    # 5-character chunks arrive far faster than 50 ms apart: coalesced to ~200 characters each.
    assert len(outputs) <= len(REWRITE) // 200 + 2
    request = fake_openai.requests["stream"][0]
    assert request["stream"] is True and request["model"] == "fake-model"
    assert request["messages"][0]["role"] == "system"
    assert "keeping every detail accurate" in request["messages"][0]["content"]


async def test_429_with_retry_after_is_retried_then_succeeds(ai_stack, fake_openai):
    events, job = await _run(
        ai_stack, fake_openai, "rate-limited", Fail(429, headers={"retry-after": "0.3"}), Stream(REWRITE)
    )
    states = [e["state"] for e in events]
    retry = next(e for e in events if e["type"] == "RETRYING")
    assert retry["error"]["code"] == "AI_RATE_LIMITED"
    assert "retry 1 in 0.3s" in retry["message"]
    assert states.index("RETRYING") < len(states) - 1 and states[-1] == "SUCCEEDED"
    assert job["attempts"] == 2 and job["result"]["text"] == REWRITE
    assert len(fake_openai.requests["rate-limited"]) == 2


async def test_500_is_retried_with_backoff(ai_stack, fake_openai):
    events, job = await _run(ai_stack, fake_openai, "server-error", Fail(500), Fail(503), Stream(REWRITE))
    retries = [e for e in events if e["type"] == "RETRYING"]
    assert [r["error"]["code"] for r in retries] == ["AI_UNAVAILABLE", "AI_UNAVAILABLE"]
    assert job["state"] == "SUCCEEDED" and job["attempts"] == 3


async def test_401_fails_at_once_with_ai_auth(ai_stack, fake_openai):
    events, job = await _run(ai_stack, fake_openai, "unauthorized", Fail(401, error_code="invalid_api_key"))
    assert [e["type"] for e in events if e["type"] in {"RETRYING", "FAILED"}] == ["FAILED"]
    assert job["state"] == "FAILED" and job["error"]["code"] == "AI_AUTH"
    assert len(fake_openai.requests["unauthorized"]) == 1


@pytest.mark.parametrize(
    ("name", "script", "code"),
    [
        ("too-long", Fail(400, error_code="context_length_exceeded"), "AI_INPUT_TOO_LONG"),
        ("filtered", Stream("Part of an answer", finish_reason="content_filter"), "AI_CONTENT_FILTERED"),
        ("no-quota", Fail(429, error_code="insufficient_quota"), "AI_QUOTA_EXCEEDED"),
        ("no-model", Fail(404, error_code="model_not_found"), "AI_MODEL_NOT_FOUND"),
    ],
)
async def test_permanent_model_errors_fail_with_their_code(ai_stack, fake_openai, name, script, code):
    events, job = await _run(ai_stack, fake_openai, name, script)
    assert job["state"] == "FAILED" and job["error"]["code"] == code
    assert not any(e["type"] == "RETRYING" for e in events)
    assert len(fake_openai.requests[name]) == 1


async def test_a_model_that_stops_answering_times_out_and_is_retried(redis_server, workdir, fake_openai):
    env = ai_env(fake_openai, OPENAI_TIMEOUT_SECONDS="2", AI_MAX_RETRIES="1")
    stack = await start_stack("t-ai-timeout", redis_server.url, workdir, **env)
    try:
        events, job = await _run(stack, fake_openai, "hangs-then-answers", Hang(), Stream(REWRITE))
        assert [e["error"]["code"] for e in events if e["type"] == "RETRYING"] == ["AI_TIMEOUT"]
        assert job["state"] == "SUCCEEDED"
        events, job = await _run(stack, fake_openai, "always-hangs", Hang())
        assert job["state"] == "FAILED" and job["error"]["code"] == "AI_TIMEOUT"
        assert "gave up after 2 attempts" in job["error"]["message"]
        await fake_openai.wait_abandoned("always-hangs", 2)
    finally:
        await stack.stop()
