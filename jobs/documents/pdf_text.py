"""A PDF's text, page by page, each page extracted once.

The multi-column hint comes from the same pass: pypdf hands every piece of text to a visitor
with its position, and text that sits side by side on many lines, with a wide gap between, is the
mark of a two-column layout (ATS parsers read such CVs out of order).

Every way the file can be unusable ends in a `WorkFailed` with its own code; pypdf's own limits
(page-tree depth, stream sizes, parsing work) end as DOCUMENT_TOO_COMPLEX.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from pypdf import PageObject, PdfReader, overwrite_configuration
from pypdf.errors import FileNotDecryptedError, LimitReachedError

from jobs.core.errors import WorkFailed
from jobs.documents.text_budget import TextBudget

# Pages read before a PDF with no text at all is declared a scan.
SCAN_PROBE_PAGES = 3
# pypdf inflates a stream up to this many bytes; no page of a CV needs more.
STREAM_MAX_BYTES = 16 * 1024 * 1024
# A gap wider than this many average characters between two pieces of text on one line.
COLUMN_GAP_CHARS = 6
COLUMN_LINE_SHARE = 0.3

Progress = Callable[[int, int], None]  # (page done, pages)
_Piece = tuple[float, float, float, float]  # baseline, start, estimated end, character width


def limit_pypdf() -> None:
    """pypdf's per-stream budgets, lowered from its defaults (75 MB) to what a CV can need."""
    overwrite_configuration(
        zlib_maximum_output_length=STREAM_MAX_BYTES,
        lzw_maximum_output_length=STREAM_MAX_BYTES,
        run_length_maximum_output_length=STREAM_MAX_BYTES,
        array_based_stream_maximum_output_length=STREAM_MAX_BYTES,
        brotli_maximum_output_length=STREAM_MAX_BYTES,
    )


def too_complex(what: str) -> WorkFailed:
    return WorkFailed(
        f"the document is too complex to read ({what}); export it again from a word processor, "
        "or upload a DOCX or the plain text",
        code="DOCUMENT_TOO_COMPLEX",
    )


def pdf_text(
    content: bytes, max_pages: int, budget: TextBudget, progress: Progress
) -> tuple[str, int, dict[str, Any]]:
    if b"%%EOF" not in content[-2048:]:
        raise WorkFailed(
            "the PDF is incomplete (no end-of-file marker): it was cut short", code="PDF_CORRUPT"
        )
    try:
        return _read(content, max_pages, budget, progress)
    except WorkFailed:
        raise
    except FileNotDecryptedError as e:
        raise _encrypted() from e
    except LimitReachedError as e:
        raise too_complex(str(e) or "beyond pypdf's limits") from e
    except RecursionError as e:
        raise too_complex("objects nested too deep") from e
    except MemoryError:
        raise
    except Exception as e:
        # Whatever pypdf raises on this input is the input's doing: a file it cannot follow.
        raise WorkFailed(f"the PDF cannot be read ({type(e).__name__})", code="PDF_CORRUPT") from e


def _read(
    content: bytes, max_pages: int, budget: TextBudget, progress: Progress
) -> tuple[str, int, dict[str, Any]]:
    reader = PdfReader(io.BytesIO(content))
    if reader.is_encrypted and not reader.decrypt(""):
        raise _encrypted()
    count = len(reader.pages)
    if count == 0:
        raise WorkFailed("the PDF has no pages", code="PDF_CORRUPT")
    if count > max_pages:
        raise WorkFailed(f"the PDF has {count} pages; the limit is {max_pages}", code="TOO_MANY_PAGES")
    texts: list[str] = []
    columns = _Columns()
    for number, page in enumerate(reader.pages, start=1):
        texts.append(budget.take(_page_text(page, columns)).strip())
        progress(number, count)
        if number == min(SCAN_PROBE_PAGES, count) and not any(texts):
            raise WorkFailed(
                "the PDF has no text layer (it looks like a scan or a picture of a CV); upload a PDF "
                "exported from a word processor, a DOCX, or paste the text",
                code="NO_TEXT_LAYER",
            )
    return "\n\n".join(t for t in texts if t), count, {"multiColumn": columns.verdict(), "tables": 0}


def _page_text(page: PageObject, columns: _Columns) -> str:
    pieces: list[_Piece] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: Any, size: float) -> None:
        if not text.strip():
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        # Half the font size is a fair average width of a character.
        char = abs(size * tm[0] * cm[0]) / 2 or 1.0
        pieces.append((round(y), x, x + len(text.strip()) * char, char))

    text = page.extract_text(visitor_text=visit) or ""
    columns.add(pieces)
    return text


class _Columns:
    """Counts the lines, and the lines with a wide gap between two pieces of text."""

    def __init__(self) -> None:
        self.lines = 0
        self.gap_lines = 0

    def add(self, pieces: list[_Piece]) -> None:
        lines: dict[float, list[_Piece]] = {}
        for piece in pieces:
            lines.setdefault(piece[0], []).append(piece)
        for spans in lines.values():
            spans.sort()
            self.lines += 1
            self.gap_lines += any(_gap(a, b) for a, b in itertools.pairwise(spans))

    def verdict(self) -> bool:
        return self.lines > 0 and self.gap_lines / self.lines > COLUMN_LINE_SHARE


def _gap(left: _Piece, right: _Piece) -> bool:
    _, _, end, char = left
    return right[1] - end > COLUMN_GAP_CHARS * char


def _encrypted() -> WorkFailed:
    return WorkFailed("the PDF is password-protected; upload an unprotected copy", code="PDF_ENCRYPTED")
