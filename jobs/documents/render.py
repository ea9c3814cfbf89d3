"""A rewritten CV (Markdown) as a clean A4 PDF, with reportlab.

The Markdown is parsed here, line by line, into headings, paragraphs, bullets and rules, and
every piece of text is escaped before reportlab sees it: markup in model output (an `<img
src="http://...">`, a Markdown image) stays text and never becomes a fetch. Links are printed
as "text (url)". Fonts are the Bitstream Vera faces reportlab ships, so any Latin script renders
without system fonts.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    HRFlowable,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
)

from jobs.text import strip_html

_FONTS = {"CV": "Vera.ttf", "CV-Bold": "VeraBd.ttf", "CV-Italic": "VeraIt.ttf", "CV-BoldItalic": "VeraBI.ttf"}
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+(.*)$")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int


def render_pdf(markdown: str, title: str = "CV") -> RenderedPdf:
    _register_fonts()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="cvimprover",
        invariant=True,  # the same Markdown gives the same bytes
    )
    document.build(_story(markdown))
    return RenderedPdf(buffer.getvalue(), document.page)


def _story(markdown: str) -> list[Flowable]:
    story: list[Flowable] = []
    paragraph: list[str] = []
    bullets: list[str] = []

    def flush() -> None:
        if paragraph:
            story.append(Paragraph(_inline(" ".join(paragraph)), STYLES["body"]))
            paragraph.clear()
        if bullets:
            items = [ListItem(Paragraph(_inline(b), STYLES["body"]), leftIndent=12) for b in bullets]
            story.append(
                ListFlowable(items, bulletType="bullet", start="•", leftIndent=12, bulletFontName="CV")
            )
            bullets.clear()

    for line in markdown.replace("\r\n", "\n").split("\n"):
        heading, bullet = _HEADING.match(line), _BULLET.match(line)
        if not line.strip() or _RULE.match(line) or heading or bullet:
            flush()
        if _RULE.match(line):
            story.append(
                HRFlowable(width="100%", thickness=0.5, color="#999999", spaceBefore=4, spaceAfter=4)
            )
        elif heading:
            level = min(len(heading.group(1)), 3)
            story.append(Paragraph(_inline(heading.group(2)), STYLES[f"h{level}"]))
        elif bullet:
            bullets.append(bullet.group(1))
        elif line.strip():
            paragraph.append(line.strip())
    flush()
    return story or [Spacer(1, 1)]


def _inline(text: str) -> str:
    """Markdown inline markup to reportlab's mini-markup; everything else escaped."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # an image: its alt text only
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1 (\2)", text)
    text = escape(strip_html(text))
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: f"<b>{m.group(1) or m.group(2)}</b>", text)
    text = re.sub(
        r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)",
        lambda m: f"<i>{m.group(1) or m.group(2)}</i>",
        text,
    )
    return re.sub(r"`([^`]+)`", r'<font face="Courier">\1</font>', text)


def _register_fonts() -> None:
    if "CV" in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(reportlab.__file__).parent / "fonts"
    for name, file in _FONTS.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(
        "CV", normal="CV", bold="CV-Bold", italic="CV-Italic", boldItalic="CV-BoldItalic"
    )


def _style(name: str, size: float, font: str = "CV", before: float = 0, after: float = 3) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=font,
        fontSize=size,
        leading=size * 1.3,
        spaceBefore=before,
        spaceAfter=after,
        alignment=TA_LEFT,
    )


STYLES = {
    "h1": _style("h1", 18, "CV-Bold", after=6),
    "h2": _style("h2", 12.5, "CV-Bold", before=8, after=3),
    "h3": _style("h3", 11, "CV-Bold", before=5, after=2),
    "body": _style("body", 9.8),
}
