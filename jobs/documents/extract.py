"""Text extraction from an uploaded CV: PDF (pypdf), DOCX (its XML, read directly) and text.

Every way a file can be unusable ends in a `WorkFailed` with its own code. A PDF without a text
layer (a scan) fails fast with NO_TEXT_LAYER: sending a placeholder to a model makes it invent
a whole CV. Layout hints (several columns, tables) are kept for the analysis: ATS parsers read
such CVs out of order.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError

from jobs.documents.sniff import decode_text
from jobs.engines.keywords import word_count
from jobs.errors import WorkFailed
from jobs.questionnaires import ResumeFormat

# Pages read before a PDF with no text at all is declared a scan.
SCAN_PROBE_PAGES = 3
DOCX_XML_MAX_BYTES = 20 * 1024 * 1024  # a zip bomb stops here
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_COLUMN_GAP = re.compile(r"\S {6,}\S")
# Bullets as PDF text extraction delivers them: Word's Symbol-font bullets land in the private use
# area, and a glyph missing from a font's encoding comes out as DEL.
_ODD_BULLETS = re.compile("[\uf0b7\uf0a7\uf076\uf0d8\uf0fc\uf06e\u25aa\u25cf\u25e6\x7f]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x80-\x9f]")

Progress = Callable[[int, int], None]  # (page done, pages)


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: int
    words: int
    layout: dict[str, Any] = field(default_factory=dict)


def extract(
    fmt: ResumeFormat, content: bytes, max_pages: int, max_chars: int, progress: Progress
) -> Extracted:
    if fmt is ResumeFormat.PDF:
        text, pages, layout = _pdf(content, max_pages, progress)
    elif fmt is ResumeFormat.DOCX:
        text, pages, layout = _docx(content)
    else:
        text, pages, layout = decode_text(content).replace("\r\n", "\n").strip(), 0, {}
    text = _CONTROLS.sub("", _ODD_BULLETS.sub("•", text))
    if not text.strip():
        raise WorkFailed("the document contains no text", code="EMPTY_DOCUMENT")
    if len(text) > max_chars:
        raise WorkFailed(
            f"the document has {len(text)} characters of text; the limit is {max_chars}", code="TEXT_TOO_LONG"
        )
    words = word_count(text)
    # Without pagination (plain text), count pages as a word processor would: ~500 words each.
    return Extracted(text, pages or max(1, -(-words // 500)), words, layout)


def _pdf(content: bytes, max_pages: int, progress: Progress) -> tuple[str, int, dict[str, Any]]:
    if b"%%EOF" not in content[-2048:]:
        raise WorkFailed(
            "the PDF is incomplete (no end-of-file marker): it was cut short", code="PDF_CORRUPT"
        )
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and not reader.decrypt(""):
            raise WorkFailed(
                "the PDF is password-protected; upload an unprotected copy", code="PDF_ENCRYPTED"
            )
        count = len(reader.pages)
    except FileNotDecryptedError as e:
        raise WorkFailed(
            "the PDF is password-protected; upload an unprotected copy", code="PDF_ENCRYPTED"
        ) from e
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError) as e:
        raise WorkFailed(f"the PDF cannot be read ({type(e).__name__})", code="PDF_CORRUPT") from e
    if count == 0:
        raise WorkFailed("the PDF has no pages", code="PDF_CORRUPT")
    if count > max_pages:
        raise WorkFailed(f"the PDF has {count} pages; the limit is {max_pages}", code="TOO_MANY_PAGES")
    texts: list[str] = []
    gap_lines = lines = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
            layout = page.extract_text(extraction_mode="layout") or ""
        except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError) as e:
            raise WorkFailed(f"page {number} of the PDF cannot be read", code="PDF_CORRUPT") from e
        texts.append(text.strip())
        page_lines = [line for line in layout.splitlines() if line.strip()]
        lines += len(page_lines)
        gap_lines += sum(1 for line in page_lines if _COLUMN_GAP.search(line.strip()))
        progress(number, count)
        if number == min(SCAN_PROBE_PAGES, count) and not any(texts):
            raise WorkFailed(
                "the PDF has no text layer (it looks like a scan or a picture of a CV); upload a PDF "
                "exported from a word processor, a DOCX, or paste the text",
                code="NO_TEXT_LAYER",
            )
    # Text side by side on many lines is the mark of a two-column layout.
    layout_hints = {"multiColumn": lines > 0 and gap_lines / lines > 0.3, "tables": 0}
    return "\n\n".join(t for t in texts if t), count, layout_hints


def _docx(content: bytes) -> tuple[str, int, dict[str, Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > DOCX_XML_MAX_BYTES:
                raise WorkFailed("the DOCX document is too large once unpacked", code="DOCX_CORRUPT")
            root = ElementTree.fromstring(archive.read(info))
            pages = _docx_pages(archive)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as e:
        raise WorkFailed(f"the DOCX file cannot be read ({type(e).__name__})", code="DOCX_CORRUPT") from e
    body = root.find(f"{_W}body")
    lines = [_docx_block(block) for block in (body if body is not None else [])]
    layout = {
        "multiColumn": any(int(c.get(f"{_W}num", "1")) > 1 for c in root.iter(f"{_W}cols")),
        "tables": sum(1 for _ in root.iter(f"{_W}tbl")),
    }
    return "\n".join(line for line in lines if line is not None).strip(), pages, layout


def _docx_block(block: ElementTree.Element) -> str | None:
    if block.tag == f"{_W}p":
        return _docx_paragraph(block)
    if block.tag == f"{_W}tbl":
        rows = []
        for row in block.iter(f"{_W}tr"):
            cells = [
                " ".join(_docx_paragraph(p) for p in cell.iter(f"{_W}p")) for cell in row.iter(f"{_W}tc")
            ]
            rows.append(" | ".join(c.strip() for c in cells if c.strip()))
        return "\n".join(rows)
    return None


def _docx_paragraph(paragraph: ElementTree.Element) -> str:
    parts = []
    for node in paragraph.iter():
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts)


def _docx_pages(archive: zipfile.ZipFile) -> int:
    """The page count Word saved in docProps/app.xml; 0 when absent."""
    try:
        found = re.search(rb"<Pages>(\d+)</Pages>", archive.read("docProps/app.xml"))
    except KeyError:
        return 0
    return int(found.group(1)) if found else 0
