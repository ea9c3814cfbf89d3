"""A DOCX's text, read from its XML with bounded memory whatever the archive claims.

- A member is inflated through a counter: past its cap the read stops, whatever size the zip's
  directory declares (a declared 1,000 bytes can inflate to gigabytes).
- The XML is parsed by defusedxml (no DTD, no entities: a "billion laughs" is refused) as a stream:
  each top-level block (paragraph, table) is turned into text when it ends and dropped, and the
  elements of the whole document are counted, so neither many small blocks nor one huge block
  can grow a tree past the cap.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from jobs.core.errors import WorkFailed
from jobs.documents.text_budget import TextBudget

DOCUMENT_MAX_BYTES = 20 * 1024 * 1024  # word/document.xml, inflated
PROPERTIES_MAX_BYTES = 64 * 1024  # docProps/app.xml, inflated
DOCUMENT_MAX_ELEMENTS = 500_000  # a 30-page CV has tens of thousands
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BODY, _P, _TBL, _COLS = f"{_W}body", f"{_W}p", f"{_W}tbl", f"{_W}cols"
_TEXT_TAGS = {f"{_W}t": None, f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n"}
_PAGES = re.compile(rb"<Pages>(\d{1,6})</Pages>")


class _Oversized(Exception):
    pass


def docx_text(content: bytes, budget: TextBudget) -> tuple[str, int, dict[str, Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            with _capped(archive, "word/document.xml", DOCUMENT_MAX_BYTES) as stream:
                text, layout = _Body(budget).read(stream)
            pages = _pages(archive)
    except _Oversized as e:
        raise WorkFailed(
            f"the DOCX is too complex to read ({e}); save it again from a word processor",
            code="DOCUMENT_TOO_COMPLEX",
        ) from e
    except DefusedXmlException as e:
        raise _corrupt(f"it declares XML entities or a DTD: {type(e).__name__}") from e
    except (zipfile.BadZipFile, KeyError, ParseError, EOFError, zlib.error) as e:
        raise _corrupt(type(e).__name__) from e
    except (NotImplementedError, RuntimeError, ValueError, OSError) as e:
        # An unsupported compression method, an encrypted member, a broken header.
        raise _corrupt(type(e).__name__) from e
    return text, pages, layout


class _Capped(io.RawIOBase):
    """A zip member read through a counter of inflated bytes."""

    def __init__(self, member: IO[bytes], name: str, limit: int) -> None:
        self._member = member
        self._name = name
        self._limit = limit
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # Never ask for more than one byte past the cap: the cap is never inflated past.
        chunk = self._member.read(min(len(buffer), self._left + 1))
        self._left -= len(chunk)
        if self._left < 0:
            raise _Oversized(f"{self._name} inflates past {self._limit} bytes")
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._member.close()
        super().close()


def _capped(archive: zipfile.ZipFile, name: str, limit: int) -> io.BufferedReader:
    return io.BufferedReader(_Capped(archive.open(name), name, limit))


class _Body:
    """Streams word/document.xml: top-level blocks become lines as they end."""

    def __init__(self, budget: TextBudget) -> None:
        self._budget = budget
        self._lines: list[str] = []
        self._columns = False
        self._tables = 0

    def read(self, stream: IO[bytes]) -> tuple[str, dict[str, Any]]:
        depth, elements, body, body_depth = 0, 0, None, 0
        for event, element in iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                elements += 1
                if elements > DOCUMENT_MAX_ELEMENTS:
                    raise _Oversized(f"more than {DOCUMENT_MAX_ELEMENTS} XML elements")
                if element.tag == _BODY:
                    body, body_depth = element, depth
                continue
            self._ended(element)
            if body is not None and depth == body_depth + 1:
                self._block(element)
                body.clear()  # the block is text now; drop its elements
            depth -= 1
        text = "\n".join(self._lines).strip()
        return text, {"multiColumn": self._columns, "tables": self._tables}

    def _ended(self, element: Element) -> None:
        if element.tag == _TBL:
            self._tables += 1
        elif element.tag == _COLS and _int(element.get(f"{_W}num")) > 1:
            self._columns = True

    def _block(self, block: Element) -> None:
        if block.tag == _P:
            self._lines.append(self._budget.take(_paragraph(block)))
        elif block.tag == _TBL:
            for row in block.iter(f"{_W}tr"):
                cells = (" ".join(_paragraph(p) for p in cell.iter(_P)) for cell in row.iter(f"{_W}tc"))
                self._lines.append(self._budget.take(" | ".join(c.strip() for c in cells if c.strip())))


def _paragraph(paragraph: Element) -> str:
    parts = []
    for node in paragraph.iter():
        if node.tag in _TEXT_TAGS:
            parts.append(_TEXT_TAGS[node.tag] or node.text or "")
    return "".join(parts)


def _int(value: str | None) -> int:
    # A hint, not content: a column count Word would never write (num="abc") counts as one.
    try:
        return int(value or "1")
    except ValueError:
        return 1


def _pages(archive: zipfile.ZipFile) -> int:
    """The page count Word saved in docProps/app.xml; 0 when absent or unreadable."""
    try:
        with _capped(archive, "docProps/app.xml", PROPERTIES_MAX_BYTES) as stream:
            found = _PAGES.search(stream.read())
    except (KeyError, _Oversized):
        return 0
    return int(found.group(1)) if found else 0


def _corrupt(why: str) -> WorkFailed:
    return WorkFailed(f"the DOCX file cannot be read ({why})", code="DOCX_CORRUPT")
