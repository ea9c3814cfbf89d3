"""A user's whole path through the product, for tests that need everything to exist: a
questionnaire, its uploaded CV, an improvement (with its analysis), and the improvement's PDF."""

from __future__ import annotations

from typing import Any

from tests.samples import CV
from tests.support.gql import (
    assert_contiguous,
    create_questionnaire,
    execute,
    improve_from_questionnaire,
    job_response,
    stream_of,
    upload_resume,
)

RENDER = "mutation($r: ID!) { renderCvPdf(responseId: $r) { id kind state } }"
PDF = "query($id: ID!) { job(id: $id) { pdf { id url sizeBytes pages } } }"


async def render(stack: Any, response_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A RENDER_PDF job's events and the PDF it made."""
    job = (await execute(stack.http, RENDER, {"r": response_id}))["renderCvPdf"]
    assert job["kind"] == "RENDER_PDF"
    events = await stream_of(stack.ws, job["id"], after_seq=0)
    assert_contiguous(events, first=1)
    return events, (await execute(stack.http, PDF, {"id": job["id"]}))["job"]["pdf"]


async def everything(stack: Any) -> dict[str, Any]:
    questionnaire = await create_questionnaire(stack.http)
    uploaded = await upload_resume(stack.http, questionnaire["id"], CV.encode(), filename="cv.txt")
    await stream_of(stack.ws, uploaded["job"]["id"])
    job = await improve_from_questionnaire(stack.http, questionnaire["id"])
    await stream_of(stack.ws, job["id"])
    response = await job_response(stack.http, job["id"])
    _, pdf = await render(stack, response["id"])
    analysis = await execute(
        stack.http, "query($id: ID!) { job(id: $id) { analysis { id } } }", {"id": job["id"]}
    )
    return {
        "questionnaire": questionnaire["id"],
        "resume": uploaded["resume"]["id"],
        "job": job["id"],
        "response": response["id"],
        "pdf": pdf,
        "analysis": analysis["job"]["analysis"]["id"],
    }
