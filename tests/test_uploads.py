"""CV uploads over the GraphQL multipart request spec, and their extraction jobs."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from tests.samples import CV
from tests.support.documents import docx, encrypted_pdf, scanned_pdf, text_pdf
from tests.support.gql import (
    GraphQLErrors,
    assert_contiguous,
    create_questionnaire,
    execute,
    stream_of,
    upload,
    upload_resume,
)

LIMIT = 10 * 1024 * 1024
RESUME = (
    "query($id: ID!) { questionnaire(id: $id) { resume { id filename format sizeBytes state "
    "extractionJobId text pages words } } }"
)
PAGE_ONE = "Jane Doe\njane.doe@example.com\nEXPERIENCE\n- Built the billing service in Python"
PAGE_TWO = "EDUCATION\nBSc Computer Science, University of Leeds (2015)"


async def _resume(http: str, questionnaire_id: str):
    return (await execute(http, RESUME, {"id": questionnaire_id}))["questionnaire"]["resume"]


async def _extract(stack, content: bytes, **kwargs):
    questionnaire = await create_questionnaire(stack.http)
    uploaded = await upload_resume(stack.http, questionnaire["id"], content, **kwargs)
    events = await stream_of(stack.ws, uploaded["job"]["id"], after_seq=0)
    assert_contiguous(events, first=1)
    return questionnaire, uploaded, events, await _resume(stack.http, questionnaire["id"])


async def test_a_pdf_is_extracted_page_by_page(offline_stack):
    _, uploaded, events, resume = await _extract(offline_stack, text_pdf([PAGE_ONE, PAGE_TWO]))
    assert uploaded["job"]["kind"] == "EXTRACT_RESUME" and uploaded["job"]["state"] == "QUEUED"
    assert uploaded["resume"]["format"] == "PDF" and uploaded["resume"]["state"] == "UPLOADED"
    assert [e["message"] for e in events if (e["message"] or "").startswith("Read page")] == [
        "Read page 1 of 2",
        "Read page 2 of 2",
    ]
    assert {e["stage"] for e in events} >= {"queued", "extracting", "finalizing", "done"}
    assert events[-1]["state"] == "SUCCEEDED"
    assert resume["state"] == "EXTRACTED" and resume["pages"] == 2
    assert "Built the billing service in Python" in resume["text"] and "University of Leeds" in resume["text"]
    assert resume["words"] == 18  # 10 + 8, counted by hand
    assert resume["extractionJobId"] == uploaded["job"]["id"]


async def test_a_docx_is_extracted_with_its_tables(offline_stack):
    content = docx(
        ["Jane Doe", "EXPERIENCE", "Acme - Engineer"], table=[["Python", "Go"], ["SQL", "AWS"]], pages=2
    )
    _, uploaded, events, resume = await _extract(
        offline_stack, content, filename="cv.docx", content_type="application/octet-stream"
    )
    assert uploaded["resume"]["format"] == "DOCX" and events[-1]["state"] == "SUCCEEDED"
    assert resume["text"] == "Jane Doe\nEXPERIENCE\nAcme - Engineer\nPython | Go\nSQL | AWS"
    assert resume["pages"] == 2 and resume["words"] == 9


async def test_plain_text_is_extracted_whatever_its_name(offline_stack):
    _, uploaded, _, resume = await _extract(offline_stack, CV.encode(), filename="cv.pdf")
    assert uploaded["resume"]["format"] == "TEXT"
    assert resume["text"] == CV.strip() and resume["pages"] == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<!DOCTYPE html><html><body><h1>CV</h1></body></html>", "UNSUPPORTED_FILE_TYPE"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "UNSUPPORTED_FILE_TYPE"),
        (b"", "EMPTY_FILE"),
    ],
)
async def test_files_that_are_not_cvs_are_refused_at_upload(offline_stack, content, code):
    questionnaire = await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as error:
        await upload_resume(offline_stack.http, questionnaire["id"], content, filename="cv.pdf")
    assert error.value.codes == [code]
    assert error.value.errors[0]["extensions"]["field"] == "file"
    assert await _resume(offline_stack.http, questionnaire["id"]) is None


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (encrypted_pdf(PAGE_ONE), "PDF_ENCRYPTED"),
        (text_pdf([PAGE_ONE])[:600], "PDF_CORRUPT"),
        (b"%PDF-1.7\n", "PDF_CORRUPT"),
        (b"%PDF-1.4\n1 0 obj garbage endobj\ntrailer <<>>\n%%EOF\n", "PDF_CORRUPT"),
        (docx([" ", ""]), "EMPTY_DOCUMENT"),
    ],
    ids=["encrypted", "truncated", "header-only", "garbage", "empty-docx"],
)
async def test_unreadable_documents_fail_their_job_with_a_code(offline_stack, content, code):
    _, _, events, resume = await _extract(offline_stack, content)
    assert events[-1]["state"] == "FAILED"
    assert events[-1]["error"]["code"] == code and events[-1]["error"]["message"]
    assert resume["state"] == "FAILED" and resume["text"] is None


async def test_a_pdf_over_the_page_cap_fails_with_too_many_pages(offline_stack):
    _, _, events, _ = await _extract(offline_stack, text_pdf([f"Page {i}" for i in range(31)]))
    assert events[-1]["error"]["code"] == "TOO_MANY_PAGES" and "31 pages" in events[-1]["error"]["message"]


async def test_a_scanned_pdf_fails_fast_with_no_text_layer(offline_stack):
    _, _, events, resume = await _extract(offline_stack, scanned_pdf(pages=6))
    assert events[-1]["error"]["code"] == "NO_TEXT_LAYER"
    assert "scan" in events[-1]["error"]["message"]
    read = [e for e in events if (e["message"] or "").startswith("Read page")]
    assert len(read) == 3  # three pages without text are enough to tell; the other three are never read
    assert resume["state"] == "FAILED"


async def test_a_new_upload_replaces_the_old_one(offline_stack, redis):
    questionnaire, first, _, _ = await _extract(offline_stack, CV.encode(), filename="a.txt")
    second = await upload_resume(offline_stack.http, questionnaire["id"], text_pdf([PAGE_ONE]))
    await stream_of(offline_stack.ws, second["job"]["id"])
    resume = await _resume(offline_stack.http, questionnaire["id"])
    assert resume["id"] == second["resume"]["id"] and resume["format"] == "PDF"
    old = first["resume"]["id"]
    assert not await redis.exists(f"t-offline:resume:{old}", f"t-offline:resume:{old}:file")


async def test_upload_to_an_unknown_questionnaire(offline_stack):
    with pytest.raises(GraphQLErrors) as error:
        await upload_resume(offline_stack.http, "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11", CV.encode())
    assert error.value.codes == ["NOT_FOUND"]


async def test_multipart_without_a_preflight_header_is_refused(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    response = await upload(offline_stack.http, questionnaire["id"], CV.encode(), preflight=False)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREVENTED"
    assert await _resume(offline_stack.http, questionnaire["id"]) is None


async def test_ten_megabytes_are_accepted_and_one_byte_more_is_not(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    at_limit = b"%PDF-1.4\n" + b"0" * (LIMIT - 9)
    accepted = await upload_resume(offline_stack.http, questionnaire["id"], at_limit)
    assert accepted["resume"]["sizeBytes"] == LIMIT
    response = await upload(offline_stack.http, questionnaire["id"], at_limit + b"0")
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "FILE_TOO_LARGE"
    assert (await _resume(offline_stack.http, questionnaire["id"]))["id"] == accepted["resume"]["id"]


async def _raw_multipart(
    http_url: str, declared_length: int | None, total: int, files: int = 1
) -> tuple[int, int]:
    """Streams a multipart upload of `files` files of `total` bytes each over a raw socket;
    returns the status the server answered and how many body bytes had been sent by then."""
    url = urlsplit(http_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    boundary = "b0undary"
    operations = json.dumps({"query": "mutation($f: Upload!) { x(f: $f) }", "variables": {"f": None}})
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{"0": ["variables.f"]}}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="cv.pdf"\r\n\r\n'
    ).encode()
    framing = f"Content-Length: {declared_length}" if declared_length else "Transfer-Encoding: chunked"
    writer.write(
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nApollo-Require-Preflight: true\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n\r\n".encode()
    )
    answer = asyncio.create_task(reader.readline())
    if declared_length:
        # Nothing of the body yet: an answer now was made from the headers alone.
        await asyncio.wait([answer], timeout=5)
    sent = 0
    chunk = b"%PDF-" + b"0" * (256 * 1024 - 5)
    next_file = f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="1"; filename="b.pdf"\r\n\r\n'
    body = [head] + [chunk] * (total // len(chunk))
    for _ in range(files - 1):
        body += [next_file.encode()] + [chunk] * (total // len(chunk))
    for piece in body:
        if answer.done():
            break
        try:
            writer.write(piece if declared_length else b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0)  # let the answer in as soon as it arrives
        except ConnectionError:
            break
        sent += len(piece)
    status = int((await asyncio.wait_for(answer, 30)).split()[1])
    writer.close()
    return status, sent


async def test_an_oversized_upload_is_refused_before_it_is_all_read(offline_stack):
    # Declared too large: refused on the headers alone.
    status, sent = await _raw_multipart(
        offline_stack.http, declared_length=40 * 1024 * 1024, total=40 * 1024 * 1024
    )
    assert status == 413 and sent == 0
    # Streamed without a length: refused once the file passes the limit, long before its end.
    status, sent = await _raw_multipart(offline_stack.http, declared_length=None, total=60 * 1024 * 1024)
    assert status == 413 and sent < 40 * 1024 * 1024


async def test_many_files_cannot_add_up_past_the_limit(offline_stack):
    status, sent = await _raw_multipart(
        offline_stack.http, declared_length=None, total=4 * 1024 * 1024, files=5
    )
    assert status == 413 and sent < 5 * 4 * 1024 * 1024  # refused before all five were sent
