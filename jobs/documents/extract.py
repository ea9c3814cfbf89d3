"""Text extraction from an uploaded CV: PDF (pypdf), DOCX (its XML, streamed) and text.

This runs inside the extraction sandbox (jobs/documents/sandbox.py), a child process with CPU,
memory and wall-clock limits; nothing here trusts the file to be small or simple. Every way a
file can be unusable ends in a `WorkFailed` with its own code. A PDF without a text layer (a
scan) fails fast with NO_TEXT_LAYER: sending a placeholder to a model makes it invent a whole CV.
Layout hints (several columns, tables) are kept for the analysis: ATS parsers read such CVs out
of order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobs.core.errors import WorkFailed
from jobs.core.questionnaires import ResumeFormat
from jobs.cv.keywords import word_count
from jobs.documents.docx_text import docx_text
from jobs.documents.pdf_text import Progress, pdf_text
from jobs.documents.sniff import decode_text
from jobs.documents.text_budget import TextBudget


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: int
    words: int
    layout: dict[str, Any] = field(default_factory=dict)


def extract(
    fmt: ResumeFormat, content: bytes, max_pages: int, max_chars: int, progress: Progress
) -> Extracted:
    budget = TextBudget(max_chars)
    if fmt is ResumeFormat.PDF:
        text, pages, layout = pdf_text(content, max_pages, budget, progress)
    elif fmt is ResumeFormat.DOCX:
        text, pages, layout = docx_text(content, budget)
    else:
        text, pages, layout = budget.take(decode_text(content).replace("\r\n", "\n")).strip(), 0, {}
    if not text.strip():
        raise WorkFailed("the document contains no text", code="EMPTY_DOCUMENT")
    words = word_count(text)
    # Without pagination (plain text), count pages as a word processor would: ~500 words each.
    return Extracted(text, pages or max(1, -(-words // 500)), words, layout)
