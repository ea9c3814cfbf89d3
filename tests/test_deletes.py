"""Deletes keep the graph whole (issue 12, point 3): after any delete, every object a query still
finds answers every field, with no NOT_FOUND inside it; what each delete takes is in
jobs/core/deletes.py."""

from __future__ import annotations

from tests.samples import CV
from tests.support.flows import everything, render
from tests.support.gql import execute, improve_cv, job_response, stream_of

JOB = """query($id: ID!) { job(id: $id) { id kind response { id pdfs { id } } analysis { id }
  pdf { id } resume { id } } }"""


async def _job_or_none(stack, job_id: str):
    """The job with every link it has, or None when the job is gone; raises on any error inside."""
    try:
        return (await execute(stack.http, JOB, {"id": job_id}))["job"]
    except Exception as e:
        codes = getattr(e, "codes", None)
        assert codes == ["NOT_FOUND"] and "job" in str(e), e
        return None


async def test_deleting_an_improvement_takes_the_pdfs_of_its_response_with_the_jobs_that_made_them(
    offline_stack, redis
):
    job = await improve_cv(offline_stack.http, CV)
    await stream_of(offline_stack.ws, job["id"])
    response = await job_response(offline_stack.http, job["id"])
    events, pdf = await render(offline_stack, response["id"])
    render_job = events[0]["jobId"]
    await execute(offline_stack.http, "mutation($id: ID!) { deleteJob(id: $id) }", {"id": job["id"]})
    # The RENDER_PDF job is gone with its PDF, rather than answering a PDF that does not exist.
    assert await _job_or_none(offline_stack, render_job) is None
    assert not await redis.exists(f"{offline_stack.prefix}:pdf:{pdf['id']}")


async def test_deleting_a_questionnaire_takes_every_job_made_for_it(offline_stack, redis, own_caller):
    made = await everything(offline_stack)
    p = offline_stack.prefix
    jobs = {j.decode() for j in await redis.smembers(f"{p}:user:{own_caller}:jobs")}
    assert made["job"] in jobs and len(jobs) == 3  # extraction, improvement, rendering
    delete = "mutation($id: ID!) { deleteQuestionnaire(id: $id) }"
    await execute(offline_stack.http, delete, {"id": made["questionnaire"]})
    for job_id in jobs:
        assert await _job_or_none(offline_stack, job_id) is None
    assert not await redis.exists(f"{p}:user:{own_caller}:jobs")
    # Nothing of it is left anywhere.
    ids = [made["questionnaire"], made["resume"], made["response"], made["pdf"]["id"], made["analysis"]]
    ids += jobs
    left = [k async for k in redis.scan_iter(f"{p}:*") if any(i in k.decode() for i in ids)]
    assert left == []


async def test_deleting_a_rendering_job_leaves_a_pdf_its_questionnaire_lists(offline_stack):
    made = await everything(offline_stack)
    again, pdf = await render(offline_stack, made["response"])
    delete = "mutation($id: ID!) { deleteJob(id: $id) }"
    await execute(offline_stack.http, delete, {"id": again[0]["jobId"]})
    found = await _job_or_none(offline_stack, made["job"])
    assert found is not None
    # Listed by a questionnaire's response, the PDF stays with it, whole.
    assert {p["id"] for p in found["response"]["pdfs"]} == {pdf["id"], made["pdf"]["id"]}
