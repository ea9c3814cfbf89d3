"""AI improvement from a questionnaire: what the model receives (and never receives), the stored
response, the truthfulness check and the limits."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.engines.base import SYSTEM_ROLE
from tests.conftest import ai_env, start_stack
from tests.samples import CV
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import (
    GraphQLErrors,
    assert_contiguous,
    create_questionnaire,
    execute,
    final_output,
    improve_cv_with,
    improve_from_questionnaire,
    job_response,
    stream_of,
    upload_resume,
)

PERSONAL = (
    "Jane Doe\njane.doe@example.com | +44 20 7946 0958 | https://janedoe.dev\n"
    "Date of birth: 12/03/1990\nAddress: 221B Baker Street, London NW1 6XE\n"
)
SECRETS = ["jane.doe@example.com", "7946 0958", "12/03/1990", "Baker Street", "janedoe.dev"]


async def _questionnaire_with_cv(stack, cv: str) -> dict[str, Any]:
    questionnaire = await create_questionnaire(stack.http)
    uploaded = await upload_resume(stack.http, questionnaire["id"], cv.encode(), filename="cv.txt")
    await stream_of(stack.ws, uploaded["job"]["id"])
    return questionnaire


async def test_the_model_never_sees_contact_details_and_the_user_gets_them_back(
    ai_stack, fake_openai: FakeOpenAI
):
    cv = PERSONAL + CV.split("\n", 2)[2]
    questionnaire = await _questionnaire_with_cv(ai_stack, cv)
    answer = (
        "# Jane Doe\n[EMAIL_1] | [PHONE_1] | [URL_1]\n\n## Experience\n\n"
        "Acme Payments Ltd - Principal Engineer (2019-2024)\n- Cut costs by 45% for 3 million users\n"
        "Hooli - Staff Engineer (2012-2016)\n"
    )
    marker = fake_openai.script("privacy", Stream(answer, chunk=5))
    job = await improve_from_questionnaire(
        ai_stack.http,
        questionnaire["id"],
        prompt=f"{marker} Emphasise payments; reach me at jane.doe@example.com",
    )
    events = await stream_of(ai_stack.ws, job["id"], after_seq=0)
    assert_contiguous(events, first=1)
    assert events[-1]["state"] == "SUCCEEDED", events[-1]

    [request] = fake_openai.requests["privacy"]
    sent = " ".join(m["content"] for m in request["messages"])
    assert not [s for s in SECRETS if s in sent], sent
    assert "[EMAIL_1]" in sent and "[PHONE_1]" in sent and "[BIRTH_DATE_1]" in sent and "[ADDRESS_1]" in sent
    assert request["messages"][0] == {"role": "system", "content": SYSTEM_ROLE}
    user = request["messages"][1]["content"]
    for expected in (
        "Target position: Senior Python Engineer",
        "Industry: Fintech",
        "Years of experience: 6+",
        "Company size: medium",
        "Location: Leeds, UK",
        "Application timeline: 1-3 months",
        "Job description:\nPython, Django",
        "Emphasise payments",
        "Acme Payments Ltd",
    ):
        assert expected in user, expected

    streamed = final_output(events)
    assert streamed.startswith("# Jane Doe\njane.doe@example.com | +44 20 7946 0958 | https://janedoe.dev")
    response = await job_response(ai_stack.http, job["id"])
    assert response["text"] == streamed and response["model"] == "fake-model"
    assert response["questionnaire"]["id"] == questionnaire["id"] and response["jobId"] == job["id"]
    assert response["usage"]["completionTokens"] == len(answer) // 4
    assert response["usage"]["totalTokens"] == response["usage"]["promptTokens"] + len(answer) // 4
    assert {(c["kind"], c["text"]) for c in response["unverifiedClaims"]} == {
        ("NUMBER", "45%"),
        ("NUMBER", "3 million"),
        ("NUMBER", "2012"),
        ("TITLE", "Principal Engineer"),
        ("EMPLOYER", "Hooli"),
        ("TITLE", "Staff Engineer"),
    }
    listed = await execute(
        ai_stack.http,
        "query($id: ID!) { questionnaire(id: $id) { responses { id } } }",
        {"id": questionnaire["id"]},
    )
    assert listed["questionnaire"]["responses"] == [{"id": response["id"]}]


async def test_the_offline_engine_improves_from_a_questionnaire(offline_stack):
    questionnaire = await _questionnaire_with_cv(offline_stack, CV)
    job = await improve_from_questionnaire(
        offline_stack.http, questionnaire["id"], prompt="Make it sharper, please."
    )
    events = await stream_of(offline_stack.ws, job["id"], after_seq=0)
    response = await job_response(offline_stack.http, job["id"])
    assert events[-1]["state"] == "SUCCEEDED"
    assert response["text"] == final_output(events)
    assert "Targeting the Senior Python Engineer role" in response["text"]
    assert "jane.doe@example.com" in response["text"]
    assert response["unverifiedClaims"] == [] and response["usage"] is None and not response["truncated"]


async def test_fields_given_with_the_questionnaire_win(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    job = await improve_from_questionnaire(
        offline_stack.http, questionnaire["id"], cvText=CV, position="Staff Engineer"
    )
    events = await stream_of(offline_stack.ws, job["id"], after_seq=0)
    assert "Targeting the Staff Engineer role" in final_output(events)


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({"prompt": "too short", "cvText": CV}, "INPUT_TOO_SHORT", "prompt"),
        ({"prompt": "p" * 5001, "cvText": CV}, "INPUT_TOO_LONG", "prompt"),
        ({}, "NO_CV_TEXT", "cvText"),
        ({"questionnaireId": "nope"}, "BAD_USER_INPUT", "questionnaireId"),
    ],
)
async def test_bad_improve_input_is_refused(offline_stack, extra, code, field):
    questionnaire = await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as error:
        await improve_cv_with(offline_stack.http, {"questionnaireId": questionnaire["id"], **extra})
    assert error.value.codes == [code]
    assert error.value.errors[0]["extensions"]["field"] == field


async def test_every_violation_of_an_improvement_is_listed(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as error:
        await improve_from_questionnaire(offline_stack.http, questionnaire["id"], prompt="short")
    violations = error.value.errors[0]["extensions"]["violations"]
    assert [(v["field"], v["code"]) for v in violations] == [
        ("cvText", "NO_CV_TEXT"),
        ("prompt", "INPUT_TOO_SHORT"),
    ]


async def test_without_a_questionnaire_cv_text_and_position_are_required(offline_stack):
    with pytest.raises(GraphQLErrors) as error:
        await improve_cv_with(offline_stack.http, {"prompt": "Make it better for me."})
    assert [v["field"] for v in error.value.errors[0]["extensions"]["violations"]] == ["cvText", "position"]


async def test_a_response_over_the_size_limit_is_cut_and_says_so(redis_server, workdir):
    stack = await start_stack("t-limit", redis_server.url, workdir, RESPONSE_MAX_CHARS="300")
    try:
        job = await improve_cv_with(stack.http, {"cvText": CV, "position": "Engineer"})
        events = await stream_of(stack.ws, job["id"], after_seq=0)
        response = await job_response(stack.http, job["id"])
        assert len(final_output(events)) > 300
        assert response["truncated"] is True and len(response["text"]) == 300
        assert any("keeps the first 300" in (e["message"] or "") for e in events)
    finally:
        await stack.stop()


async def test_usage_is_not_asked_of_servers_that_reject_it(redis_server, workdir, fake_openai: FakeOpenAI):
    stack = await start_stack(
        "t-nousage", redis_server.url, workdir, **ai_env(fake_openai, OPENAI_STREAM_USAGE="false")
    )
    try:
        marker = fake_openai.script("no-usage", Stream("# Jane Doe\n"))
        job = await improve_cv_with(stack.http, {"cvText": f"{CV}\n{marker}", "position": "Engineer"})
        assert (await stream_of(stack.ws, job["id"]))[-1]["state"] == "SUCCEEDED"
        assert "stream_options" not in fake_openai.requests["no-usage"][0]
        assert (await job_response(stack.http, job["id"]))["usage"] is None
    finally:
        await stack.stop()
