"""An upload's format, decided by its bytes: a file's name and declared type are the client's
word, and an HTML page named `cv.pdf` is still HTML."""

from __future__ import annotations

import io
import re
import zipfile

from jobs.core.errors import InvalidInput
from jobs.core.questionnaires import ResumeFormat

_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f]")
_MARKUP = (b"<!doctype html", b"<html", b"<?xml", b"<svg", b"<script", b"<body", b"<head")


def detect_format(content: bytes) -> ResumeFormat:
    if not content:
        raise InvalidInput("file", "the file is empty (0 bytes)", code="EMPTY_FILE")
    # The PDF spec allows junk before the header; readers look within the first 1 KiB.
    if b"%PDF-" in content[:1024]:
        return ResumeFormat.PDF
    if content.startswith(b"PK\x03\x04"):
        if _is_docx(content):
            return ResumeFormat.DOCX
        raise _unsupported("a ZIP archive that is not a Word (DOCX) document")
    if _is_text(content):
        return ResumeFormat.TEXT
    raise _unsupported("neither PDF, DOCX nor plain text")


def decode_text(content: bytes) -> str:
    """Plain text as uploaded: UTF-8 (with or without BOM) or UTF-16 with a BOM."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16")
    return content.decode("utf-8-sig")


def _is_docx(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, OSError):
        # A broken directory, a zip "version" nobody made, a name flagged UTF-8 that is not.
        return False


def _is_text(content: bytes) -> bool:
    try:
        text = decode_text(content)
    except UnicodeDecodeError:
        return False
    head = text[:4096].lower().encode()
    if "\x00" in text or any(tag in head for tag in _MARKUP):
        return False
    return len(_CONTROLS.findall(text)) <= len(text) // 100


def _unsupported(what: str) -> InvalidInput:
    return InvalidInput(
        "file",
        f"the file is {what}; upload a PDF, a DOCX or a plain-text CV",
        code="UNSUPPORTED_FILE_TYPE",
    )
