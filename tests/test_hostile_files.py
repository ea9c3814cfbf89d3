"""Hostile uploads (issue 8): extraction has budgets, not trust, and every failure a file can
cause has its own code, costs its user a quota unit, and leaves no bytes behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from devstack.redis_server import RedisServer
from jobs.core.errors import WorkFailed
from jobs.core.questionnaires import ResumeFormat
from jobs.documents.extract import extract
from jobs.documents.sandbox import extract_isolated
from tests.conftest import Stack, stack_env
from tests.samples import CV
from tests.support import documents
from tests.support.auth import Caller, authorization
from tests.support.gql import (
    GraphQLErrors,
    create_questionnaire,
    execute,
    improve_cv,
    stream_of,
    subscribe,
    upload_resume,
)
from tests.support.processes import start_api, start_worker

STATUS = "{ rateLimitStatus { scope limit used remaining } }"
MB = 1024 * 1024


async def _quota(url: str) -> dict[str, dict[str, int]]:
    return {s["scope"]: s for s in (await execute(url, STATUS))["rateLimitStatus"]}


async def _upload_and_wait(stack: Stack, content: bytes, questionnaire_id: str | None = None):
    """(questionnaire id, upload, the extraction's events)"""
    questionnaire_id = questionnaire_id or (await create_questionnaire(stack.http))["id"]
    uploaded = await upload_resume(stack.http, questionnaire_id, content, filename="cv")
    return questionnaire_id, uploaded, await stream_of(stack.ws, uploaded["job"]["id"], after_seq=0)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (documents.flate_bomb_pdf(), "DOCUMENT_TOO_COMPLEX"),
        (documents.nested_array_pdf(), "DOCUMENT_TOO_COMPLEX"),
        (documents.deep_page_tree_pdf(101), "DOCUMENT_TOO_COMPLEX"),
        (documents.docx_bomb(), "DOCUMENT_TOO_COMPLEX"),
        (documents.docx_bomb(declared=1000), "DOCX_CORRUPT"),
        (documents.docx_bomb(inflated=19 * MB, filler=b"<w:r/>"), "DOCUMENT_TOO_COMPLEX"),
        (documents.docx_bomb(inflated=20 * MB - 200, filler=b"<w:p/>"), "TEXT_TOO_LONG"),
        (documents.docx_malformed(), "DOCX_CORRUPT"),
        (documents.docx_billion_laughs(), "DOCX_CORRUPT"),
    ],
    ids=[
        "flate-bomb",
        "arrays-100000-deep",
        "page-tree-101-deep",
        "docx-inflates-to-64MB",
        "docx-declares-1000-bytes",
        "docx-one-paragraph-of-3M-runs",
        "docx-3M-empty-paragraphs",
        "docx-malformed-xml",
        "docx-billion-laughs",
    ],
)
async def test_a_hostile_file_fails_with_its_code_keeps_its_unit_and_loses_its_bytes(
    offline_stack, redis, own_caller, content, code
):
    Caller.become(own_caller, "Free")
    _, uploaded, events = await _upload_and_wait(offline_stack, content)
    assert events[-1]["state"] == "FAILED" and events[-1]["error"]["code"] == code
    resume_id = uploaded["resume"]["id"]
    assert not await redis.exists(f"t-offline:resume:{resume_id}:file")
    assert (await redis.hget(f"t-offline:resume:{resume_id}", "state")) == b"FAILED"
    quota = await _quota(offline_stack.http)
    assert quota["UPLOADS"]["used"] == 1  # the user's file failed: no refund
    assert quota["STORAGE"]["used"] == 0  # its bytes are gone, and given back


async def test_a_zip_no_reader_can_open_is_refused_at_upload(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as refused:
        await upload_resume(offline_stack.http, questionnaire["id"], documents.docx_from_the_future())
    assert refused.value.codes == ["UNSUPPORTED_FILE_TYPE"]


async def test_a_column_count_word_would_never_write_is_ignored(offline_stack):
    _, _, events = await _upload_and_wait(offline_stack, documents.docx_with_columns("abc"))
    assert events[-1]["state"] == "SUCCEEDED"


def test_the_column_hint_comes_from_the_one_pass_that_reads_the_text():
    def layout(content: bytes) -> dict[str, object]:
        return extract(ResumeFormat.PDF, content, 30, 50_000, lambda page, pages: None).layout

    assert layout(documents.two_column_pdf())["multiColumn"] is True
    assert layout(documents.text_pdf(["Jane Doe\nEngineer\nPython, Go"] * 2))["multiColumn"] is False


def test_text_too_long_stops_at_the_first_page_past_the_cap():
    page = "Built the billing service in Python. " * 20
    read: list[int] = []
    with pytest.raises(WorkFailed) as failed:
        extract(
            ResumeFormat.PDF, documents.text_pdf([page] * 5), 30, len(page) + 10, lambda n, _: read.append(n)
        )
    assert failed.value.code == "TEXT_TOO_LONG"
    assert read == [1]  # page 2 passed the cap; pages 3 to 5 were never read


def _extract(fmt: ResumeFormat, content: bytes, time_limit: float = 30, memory_mb: int = 512) -> None:
    """The sandboxed extraction with the default caps of pages and characters."""
    extract_isolated(
        fmt,
        content,
        max_pages=30,
        max_chars=50_000,
        progress=lambda page, pages: None,
        time_limit=time_limit,
        memory_mb=memory_mb,
    )


def test_past_the_time_budget_the_reader_is_killed():
    with pytest.raises(WorkFailed) as failed:
        _extract(ResumeFormat.PDF, documents.shared_stream_pdf(), time_limit=1)
    assert failed.value.code == "DOCUMENT_TOO_COMPLEX" and "longer than 1 s" in failed.value.message


def test_past_the_memory_budget_the_reader_fails():
    # 15 MB of text between two XML elements: under the byte cap, over an 8 MB budget.
    with pytest.raises(WorkFailed) as failed:
        _extract(ResumeFormat.DOCX, documents.docx_bomb(inflated=15 * MB, filler=b"x"), memory_mb=8)
    assert failed.value.code == "DOCUMENT_TOO_COMPLEX" and "memory" in failed.value.message


@pytest.fixture(scope="module")
async def prefork_stack(redis_server: RedisServer, workdir: Path):
    """Two prefork pool processes and a 3 s extraction budget: the shape of the stack on which
    two hostile PDFs stopped all work."""
    env = {**stack_env(redis_server.url, "t-hostile"), "EXTRACT_TIME_LIMIT_SECONDS": "3"}
    worker = start_worker("t-hostile-worker", env, workdir, "prefork", 2)
    stack = Stack("t-hostile", env, workdir, await start_api("t-hostile-api", env, workdir), [worker])
    yield stack
    await stack.stop()


async def test_two_hostile_pdfs_do_not_stop_another_users_job(prefork_stack, own_caller):
    Caller.become(own_caller, "Free")
    hostile = documents.shared_stream_pdf()
    jobs = []
    for _ in range(2):
        questionnaire = await create_questionnaire(prefork_stack.http)
        jobs.append((await upload_resume(prefork_stack.http, questionnaire["id"], hostile))["job"]["id"])
    async with (
        subscribe(prefork_stack.ws, jobs[0], after_seq=0) as first,
        subscribe(prefork_stack.ws, jobs[1], after_seq=0) as second,
    ):
        for sub in (first, second):  # both pool processes are busy with them
            while not ((await sub.next()) or {}).get("message", "").startswith("Reading"):
                pass
        Caller.become(own_caller + "-other", "Free")
        other = await improve_cv(prefork_stack.http, CV)
        other_events = await stream_of(prefork_stack.ws, other["id"], after_seq=0)
        ends = [(await sub.until_complete())[-1] for sub in (first, second)]
    assert other_events[-1]["state"] == "SUCCEEDED"
    assert [(e["state"], e["error"]["code"]) for e in ends] == [("FAILED", "DOCUMENT_TOO_COMPLEX")] * 2
    assert "longer than 3 s" in ends[0]["error"]["message"]


async def test_stored_bytes_count_against_the_plan_until_deleted(offline_stack, own_caller):
    Caller.become(own_caller, "Free")  # 25 MiB
    big = documents.padded_pdf("Jane Doe\nEngineer", 9 * MB)
    first, _, events = await _upload_and_wait(offline_stack, big)
    second, _, _ = await _upload_and_wait(offline_stack, big)
    assert events[-1]["state"] == "SUCCEEDED"
    storage = (await _quota(offline_stack.http))["STORAGE"]
    assert (storage["used"], storage["limit"]) == (2 * len(big), 25 * MB)

    third = await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as refused:
        await upload_resume(offline_stack.http, third["id"], big)
    extensions = refused.value.errors[0]["extensions"]
    assert (extensions["code"], extensions["scope"]) == ("RATE_LIMITED", "STORAGE")
    assert (extensions["used"], extensions["requested"]) == (2 * len(big), len(big))
    assert (await _quota(offline_stack.http))["STORAGE"]["used"] == 2 * len(big)  # the refusal took nothing

    # A newer upload replaces the file and gives its bytes back; so does deleting a questionnaire.
    await _upload_and_wait(offline_stack, CV.encode(), first)
    assert (await _quota(offline_stack.http))["STORAGE"]["used"] == len(big) + len(CV.encode())
    await execute(offline_stack.http, "mutation($id: ID!) { deleteQuestionnaire(id: $id) }", {"id": second})
    assert (await _quota(offline_stack.http))["STORAGE"]["used"] == len(CV.encode())
    await upload_resume(offline_stack.http, third["id"], big)


async def test_uploads_racing_to_one_questionnaire_leave_one_file_and_give_the_rest_back(
    offline_stack, redis, own_caller
):
    # A double-clicked upload button: each upload replaces the CV it really replaces (read and
    # swapped in one step), so no file is left unreachable and still counted.
    Caller.become(own_caller, "Free")
    questionnaire_id, _, _ = await _upload_and_wait(offline_stack, CV.encode())
    contents = [f"{CV}\nVersion {i}".encode() for i in range(6)]
    uploads = await asyncio.gather(
        *(upload_resume(offline_stack.http, questionnaire_id, c, filename="cv") for c in contents)
    )
    for uploaded in uploads:
        await stream_of(offline_stack.ws, uploaded["job"]["id"], after_seq=0)
    prefix = offline_stack.prefix
    files = [key async for key in redis.scan_iter(f"{prefix}:resume:*:file")]
    owners = [await redis.hget(f.decode().removesuffix(":file"), "owner") for f in files]
    owned = [f for f, owner in zip(files, owners, strict=True) if owner == own_caller.encode()]
    current = (await redis.hget(f"{prefix}:q:{questionnaire_id}", "resume_id")).decode()
    assert owned == [f"{prefix}:resume:{current}:file".encode()]
    stored = await redis.strlen(owned[0])
    assert (await _quota(offline_stack.http))["STORAGE"]["used"] == stored
    delete = "mutation($id: ID!) { deleteQuestionnaire(id: $id) }"
    await execute(offline_stack.http, delete, {"id": questionnaire_id})
    assert (await _quota(offline_stack.http))["STORAGE"]["used"] == 0
    assert not await redis.exists(owned[0])


@pytest.mark.parametrize(
    ("field", "status", "where"),
    [(CV, 200, "file"), ("x" * (2 * MB), 400, None)],
    ids=["a-cv", "over-starlettes-1MiB-field-limit"],
)
async def test_an_upload_part_without_a_filename_is_bad_user_input(offline_stack, field, status, where):
    # What gql's streaming uploads and `curl -F 0=text` send: the file part is a plain form field.
    questionnaire = await create_questionnaire(offline_stack.http)
    query = "mutation($q: ID!, $f: Upload!) { uploadResume(questionnaireId: $q, file: $f) { job { id } } }"
    operations = json.dumps({"query": query, "variables": {"q": questionnaire["id"], "f": None}})
    parts = [("operations", operations), ("map", '{"0": ["variables.f"]}'), ("0", field)]
    body = "".join(f'--b0\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in parts)
    headers = {
        **authorization(None),
        "Apollo-Require-Preflight": "true",
        "Content-Type": "multipart/form-data; boundary=b0",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            offline_stack.http, content=(body + "--b0--\r\n").encode(), headers=headers
        )
    error = response.json()["errors"][0]
    assert (response.status_code, error["extensions"]["code"]) == (status, "BAD_USER_INPUT")
    assert error["extensions"].get("field") == where
