"""From questionnaire to downloaded PDF, end to end; the rendered PDF fetches nothing."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
from pypdf import PdfReader

from devstack.redis_server import free_port
from jobs.documents.render import render_pdf
from tests.samples import CV
from tests.support.auth import authorization
from tests.support.documents import text_pdf
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.flows import RENDER, everything, render
from tests.support.gql import (
    GraphQLErrors,
    create_questionnaire,
    execute,
    improve_cv,
    improve_from_questionnaire,
    job_response,
    stream_of,
    upload_resume,
)

DELETE_JOB = "mutation($id: ID!) { deleteJob(id: $id) }"


async def _download(stack, url: str, token: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.api.base_url) as client:
        return await client.get(url, headers=authorization(token))


@pytest.mark.parametrize("engine", ["offline", "openai"])
async def test_questionnaire_upload_extract_improve_render_download(
    offline_stack, ai_stack, fake_openai, engine
):
    stack = offline_stack if engine == "offline" else ai_stack
    extra = {}
    if engine == "openai":
        marker = fake_openai.script(
            "e2e", Stream("# Jane Doe\n\n## Experience\n\n- Owned the billing service\n")
        )
        extra = {"prompt": f"{marker} Make it shine, please."}
    questionnaire = await create_questionnaire(stack.http)
    uploaded = await upload_resume(stack.http, questionnaire["id"], text_pdf([CV]))
    extraction = await stream_of(stack.ws, uploaded["job"]["id"], after_seq=0)
    assert "extracting" in {e["stage"] for e in extraction} and extraction[-1]["state"] == "SUCCEEDED"

    job = await improve_from_questionnaire(stack.http, questionnaire["id"], **extra)
    improvement = await stream_of(stack.ws, job["id"], after_seq=0)
    # "finalizing" is a passing step, folded into SUCCEEDED when that follows at once (jobs/work/run.py).
    assert [s for s in ("analyzing", "generating") if s in {e["stage"] for e in improvement}] == [
        "analyzing",
        "generating",
    ]
    response = await job_response(stack.http, job["id"])
    assert "Owned the billing service" in response["text"]

    rendering, pdf = await render(stack, response["id"])
    assert "rendering" in {e["stage"] for e in rendering} and rendering[-1]["state"] == "SUCCEEDED"
    download = await _download(stack, pdf["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.content.startswith(b"%PDF-") and len(download.content) == pdf["sizeBytes"]
    reader = PdfReader(io.BytesIO(download.content))
    assert len(reader.pages) == pdf["pages"] >= 1
    assert [round(float(v)) for v in reader.pages[0].mediabox[2:]] == [595, 842]  # A4 in points
    assert "Owned the billing service" in reader.pages[0].extract_text()


async def test_markup_in_model_output_fetches_nothing(ai_stack, fake_openai: FakeOpenAI):
    hits: list[bytes] = []

    async def tracker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(100))
        writer.close()

    port = free_port()
    server = await asyncio.start_server(tracker, "127.0.0.1", port)
    answer = (
        f'# Jane Doe\n\n<img src="http://127.0.0.1:{port}/pixel.png">\n\n'
        f"![logo](http://127.0.0.1:{port}/logo.png)\n\n"
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css"> See [my site](http://127.0.0.1:{port}/)\n'
    )
    marker = fake_openai.script("markup", Stream(answer))
    try:
        job = await improve_from_questionnaire(
            ai_stack.http,
            (await create_questionnaire(ai_stack.http))["id"],
            cvText=CV,
            prompt=f"{marker} Go on.",
        )
        await stream_of(ai_stack.ws, job["id"])
        response = await job_response(ai_stack.http, job["id"])
        events, pdf = await render(ai_stack, response["id"])
        assert events[-1]["state"] == "SUCCEEDED"
        text = PdfReader(io.BytesIO((await _download(ai_stack, pdf["url"])).content)).pages[0].extract_text()
        assert "logo" in text and f"my site (http://127.0.0.1:{port}/)" in text
        assert hits == []
    finally:
        server.close()
        await server.wait_closed()


async def test_unknown_pdfs_and_responses_are_not_found(offline_stack):
    for url in ("/downloads/pdf/0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11", "/downloads/pdf/nope"):
        response = await _download(offline_stack, url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    with pytest.raises(GraphQLErrors) as error:
        await execute(offline_stack.http, RENDER, {"r": "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"})
    assert error.value.codes == ["NOT_FOUND"]


async def test_deleting_a_questionnaire_deletes_everything_made_from_it(offline_stack, redis):
    made = await everything(offline_stack)
    listed = await execute(
        offline_stack.http,
        "query($id: ID!) { job(id: $id) { response { pdfs { id } } } }",
        {"id": made["job"]},
    )
    assert listed["job"]["response"]["pdfs"] == [{"id": made["pdf"]["id"]}]
    read = await execute(
        offline_stack.http,
        "query($id: ID!) { analysis(id: $id) { id overallScore } }",
        {"id": made["analysis"]},
    )
    assert read["analysis"]["id"] == made["analysis"]

    await execute(
        offline_stack.http,
        "mutation($id: ID!) { deleteQuestionnaire(id: $id) }",
        {"id": made["questionnaire"]},
    )
    p = offline_stack.prefix
    for key in (
        f"{p}:q:{made['questionnaire']}",
        f"{p}:resume:{made['resume']}:file",
        f"{p}:response:{made['response']}",
        f"{p}:pdf:{made['pdf']['id']}:file",
        f"{p}:analysis:{made['analysis']}",
    ):
        assert not await redis.exists(key), key
    assert (await _download(offline_stack, made["pdf"]["url"])).status_code == 404
    with pytest.raises(GraphQLErrors) as gone:
        await execute(
            offline_stack.http, "query($id: ID!) { analysis(id: $id) { id } }", {"id": made["analysis"]}
        )
    assert gone.value.codes == ["NOT_FOUND"]


async def test_deleting_a_job_deletes_what_only_it_refers_to(offline_stack, redis):
    job = await improve_cv(offline_stack.http, CV)
    await stream_of(offline_stack.ws, job["id"])
    response = await job_response(offline_stack.http, job["id"])
    _, pdf = await render(offline_stack, response["id"])
    assert (await execute(offline_stack.http, DELETE_JOB, {"id": job["id"]}))["deleteJob"] == job["id"]
    p = offline_stack.prefix
    for key in (
        f"{p}:job:{job['id']}",
        f"{p}:job:{job['id']}:log",
        f"{p}:response:{response['id']}",
        f"{p}:pdf:{pdf['id']}:file",
    ):
        assert not await redis.exists(key), key
    with pytest.raises(GraphQLErrors) as gone:
        await execute(offline_stack.http, DELETE_JOB, {"id": job["id"]})
    assert gone.value.codes == ["NOT_FOUND"]
    # What a questionnaire lists stays with it.
    made = await everything(offline_stack)
    await execute(offline_stack.http, DELETE_JOB, {"id": made["job"]})
    assert await redis.exists(f"{p}:response:{made['response']}")


def _pdf_text(markdown: str) -> str:
    rendered = render_pdf(markdown)
    assert rendered.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(rendered.content))
    assert len(reader.pages) == rendered.pages >= 1
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("**a _b** c_ and *x **y* z**", ["a _b c_ and x y z"]),
        ("**bold and *it and __x `open", ["bold and *it and __x `open"]),
        ("- one\n  - two\n    - three\n          - deep\n1. first\n2) second", ["one", "deep", "second"]),
        ("```py\nif a < b and c & d:\n    return '<b>'\n```\n~~~\nopen", ["if a < b and c & d:", "open"]),
        ("| Skill | Years |\n|---|---:|\n| **Python** | 7 |", ["Skill | Years", "Python | 7"]),
        ("<div>Hello <b>there</b></div><script>alert(1)</script><font face='x'>", ["Hello there"]),
        ("See [site](http://a.b/c?d=1&e=<f>) or <https://x.y/z>", ["site (http://a.b/c?d=1&e=<f>) or https://x.y/z"]),
        ("a\x00b\x07c\u200bd\u200ee\ufefff\u202eg\x1bh\ud800", ["abcdefgh"]),
        ("Jane\u2028Doe\tLeeds\u00a0UK", ["Jane Doe Leeds"]),
        ("# \u05e9\u05dc\u05d5\u05dd **\u05e2\u05d5\u05dc\u05dd**\n\n\u0645\u0631\u062d\u0628\u0627", []),
    ],
    ids=["overlap", "unbalanced", "nested", "fences", "table", "html", "links", "controls", "spaces", "rtl"],
)
def test_what_models_write_renders_sensibly(markdown, shown):
    text = _pdf_text(markdown)
    for expected in shown:
        assert expected in text, text
    assert "alert" not in text and "---" not in text


def test_words_too_long_for_a_line_are_broken_and_thousands_of_lines_paginate():
    url = "https://example.com/" + "a" * 3000
    text = _pdf_text(f"Portfolio: {url}\n\n" + "\n".join(f"- line {i} *of* many" for i in range(3000)))
    assert "Portfolio:" in text and "line 2999 of many" in text
    assert render_pdf("x" * 50_000).pages > 1


async def test_overlapping_emphasis_from_a_model_renders(ai_stack, fake_openai: FakeOpenAI):
    marker = fake_openai.script("overlap", Stream("# Jane Doe\n\n- **Led _billing** at Acme_\n"))
    job = await improve_cv(ai_stack.http, f"{CV}\n{marker}")
    assert (await stream_of(ai_stack.ws, job["id"]))[-1]["state"] == "SUCCEEDED"
    events, pdf = await render(ai_stack, (await job_response(ai_stack.http, job["id"]))["id"])
    assert events[-1]["state"] == "SUCCEEDED", events[-1]
    content = (await _download(ai_stack, pdf["url"])).content
    assert "Led _billing at Acme_" in PdfReader(io.BytesIO(content)).pages[0].extract_text()
