"""Sniffing (jobs/documents/sniff.py): an upload's format is decided by its bytes, not its name."""

from __future__ import annotations

import io
import zipfile

import pytest

from jobs.core.errors import InvalidInput
from jobs.core.questionnaires import ResumeFormat
from jobs.documents.sniff import decode_text, detect_format


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n...", ResumeFormat.PDF),
        (b"\x00" * 500 + b"%PDF-1.4", ResumeFormat.PDF),  # junk before the header, as readers allow
        (_zip("[Content_Types].xml", "word/document.xml"), ResumeFormat.DOCX),
        (b"Jane Doe\nPython, Go\n", ResumeFormat.TEXT),
        ("\ufeffJosé Núñez\n".encode(), ResumeFormat.TEXT),
        ("Zoë\n".encode("utf-16"), ResumeFormat.TEXT),
        (b"a\x0cform feed and a tab\tare text", ResumeFormat.TEXT),
    ],
)
def test_formats_are_recognised_by_their_bytes(content, expected):
    assert detect_format(content) == expected


def test_a_pdf_header_past_the_first_kibibyte_does_not_make_a_pdf():
    with pytest.raises(InvalidInput) as refused:
        detect_format(b"\x00" * 1024 + b"%PDF-1.4")
    assert refused.value.code == "UNSUPPORTED_FILE_TYPE"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (_zip("notes.txt"), "a ZIP archive that is not a Word (DOCX) document"),
        (b"PK\x03\x04 broken central directory", "a ZIP archive that is not a Word (DOCX) document"),
        (b"<!DOCTYPE html><html><body>CV</body></html>", "neither PDF, DOCX nor plain text"),
        (b"  <svg onload=alert(1)>", "neither PDF, DOCX nor plain text"),
        (b"\xff\xd8\xff\xe0 JPEG bytes \x81\x82", "neither PDF, DOCX nor plain text"),
        (b"text with a NUL\x00 inside", "neither PDF, DOCX nor plain text"),
        (b"binary\x01\x02\x03\x04 noise", "neither PDF, DOCX nor plain text"),
    ],
)
def test_anything_else_is_refused_saying_what_it_is(content, why):
    with pytest.raises(InvalidInput) as refused:
        detect_format(content)
    assert refused.value.code == "UNSUPPORTED_FILE_TYPE"
    assert refused.value.message == f"the file is {why}; upload a PDF, a DOCX or a plain-text CV"
    assert refused.value.details["field"] == "file"


def test_an_empty_file_has_its_own_code():
    with pytest.raises(InvalidInput) as refused:
        detect_format(b"")
    assert refused.value.code == "EMPTY_FILE"


def test_text_is_decoded_by_its_byte_order_mark():
    assert decode_text("\ufeffCV".encode()) == "CV"
    assert decode_text("Zoë".encode("utf-16-le").join([b"\xff\xfe", b""])) == "Zoë"
    assert decode_text("Zoë".encode("utf-16-be").join([b"\xfe\xff", b""])) == "Zoë"
    with pytest.raises(UnicodeDecodeError):
        decode_text(b"\xff\xd8 not utf-8")
