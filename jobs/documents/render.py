"""A rewritten CV (Markdown) as a clean A4 PDF, with reportlab.

Whatever a model writes renders. The text is normalised first: control characters and invisible
format marks (zero-width spaces, bidi controls) go, unusual spaces and line separators become
plain ones, lone surrogates and U+FFFE/U+FFFF become U+FFFD. It is then read line by line into
headings, paragraphs, bullets (indented by depth), code blocks, table rows and rules. Inline
Markdown goes through markdown-it's CommonMark parser, whose tokens are always well nested, and
is written as reportlab's mini-markup with every piece of text escaped; a tag is closed only
when it is the innermost one open, so reportlab never sees overlapping or unbalanced tags
(`**a _b** c_` keeps its stray `_` as text). Markup in model output (an `<img src=...>`, a
Markdown image) is dropped or stays text, and never becomes a fetch. Links are printed as
"text (url)". Fonts are the Bitstream Vera faces reportlab ships, so any Latin script renders
without system fonts; other scripts show the font's missing-glyph box rather than fail.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from markdown_it import MarkdownIt
from markdown_it.token import Token
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

_FONTS = {"CV": "Vera.ttf", "CV-Bold": "VeraBd.ttf", "CV-Italic": "VeraIt.ttf", "CV-BoldItalic": "VeraBI.ttf"}
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_BULLET = re.compile(r"^( *)(?:[-*+•]|\d{1,9}[.)])\s+(.*)$")
_RULE = re.compile(r"^ {0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_QUOTE = re.compile(r"^ {0,3}(?:>\s?)+")
_MAX_DEPTH = 4  # list levels shown as indents; deeper ones stay at the last
_PIECE_CHARS = 2000  # of markup in one reportlab paragraph (see _Markup)

# CommonMark inline rules (emphasis, code, links, images, autolinks, escapes, entities, inline
# HTML) and ~~strikethrough~~; HTML tokens are dropped below, their text kept.
_MARKDOWN = MarkdownIt("commonmark").enable("strikethrough")
_TAGS = {"strong": "b", "em": "i", "s": "strike"}
_HIDING = re.compile(r"<(/?)(?:script|style)\b", re.IGNORECASE)


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
        title=normalise(title),
        author="cvimprover",
        invariant=True,  # the same Markdown gives the same bytes
    )
    document.build(_story(normalise(markdown)))
    return RenderedPdf(buffer.getvalue(), document.page)


class _Story:
    """Flowables gathered line by line; a paragraph or a list is closed by what cannot continue it."""

    def __init__(self) -> None:
        self.flowables: list[Flowable] = []
        self.paragraph: list[str] = []
        self.bullets: list[tuple[int, str]] = []
        self.code: list[str] | None = None  # inside a fenced block: its lines

    def flush(self) -> None:
        if self.paragraph:
            self.flowables += _paragraphs(inline_markup(" ".join(self.paragraph)), "body")
            self.paragraph.clear()
        if self.bullets:
            items = [
                ListItem(_paragraphs(inline_markup(text), "body"), leftIndent=12 + 12 * depth)
                for depth, text in self.bullets
            ]
            self.flowables.append(
                ListFlowable(items, bulletType="bullet", start="•", leftIndent=12, bulletFontName="CV")
            )
            self.bullets.clear()

    def line(self, line: str) -> None:
        if self.code is not None:
            if _FENCE.match(line):
                # A paragraph per line: one paragraph of thousands of lines costs quadratic time
                # as reportlab splits it page by page.
                self.flowables += _paragraphs([_code(c) for c in self.code], "code")
                self.flowables.append(Spacer(1, 4))
                self.code = None
            else:
                self.code.append(line)
            return
        line = _QUOTE.sub("", line)
        heading, bullet = _HEADING.match(line), _BULLET.match(line)
        if not line.strip() or _RULE.match(line) or heading or _FENCE.match(line) or _TABLE_ROW.match(line):
            self.flush()
        if _FENCE.match(line):
            self.code = []
        elif _RULE.match(line):
            self.flowables.append(
                HRFlowable(width="100%", thickness=0.5, color="#999999", spaceBefore=4, spaceAfter=4)
            )
        elif heading:
            level = min(len(heading.group(1)), 3)
            self.flowables += _paragraphs(inline_markup(heading.group(2)), f"h{level}")
        elif _TABLE_ROW.match(line):
            if not _TABLE_RULE.match(line):
                cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
                self.flowables += _paragraphs(inline_markup("  |  ".join(cells)), "body")
        elif bullet:
            if self.paragraph:
                self.flush()
            self.bullets.append((min(len(bullet.group(1)) // 2, _MAX_DEPTH), bullet.group(2)))
        elif line.strip():
            if self.bullets:  # a bullet's continuation line
                depth, text = self.bullets[-1]
                self.bullets[-1] = (depth, f"{text} {line.strip()}")
            else:
                self.paragraph.append(line.strip())

    def end(self) -> list[Flowable]:
        if self.code is not None:  # a fence never closed: its lines are still code
            self.line("```")
        self.flush()
        return self.flowables or [Spacer(1, 1)]


def _story(markdown: str) -> list[Flowable]:
    story = _Story()
    for line in markdown.split("\n"):
        story.line(line)
    return story.end()


def inline_markup(text: str) -> list[str]:
    """Markdown inline markup as reportlab's mini-markup, in pieces of about `_PIECE_CHARS`."""
    markup = _Markup()
    markup.write(_MARKDOWN.parseInline(text)[0].children or [])
    return markup.finish()


class _Markup:
    """Text escaped; a tag closed only when it is the innermost one open; cut between tokens into
    pieces (each closes the tags open at its end and reopens them at its start), because reportlab
    re-wraps a paragraph's whole remainder for every page it splits off: quadratic in its length."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.out: list[str] = []
        self.size = 0
        self.open_tags: list[str] = []
        self.links: list[tuple[str, int]] = []  # each open link's href and where its text starts in `out`
        self.hidden = 0  # inside <script> or <style>: text not shown

    def write(self, tokens: list[Token]) -> None:
        for token in tokens:
            if token.type == "html_inline":
                self._html(token.content)
            elif self.hidden:
                continue
            elif token.type == "image":  # its alt text only: nothing is fetched
                self.write(token.children or [])
            elif token.type in ("link_open", "link_close"):
                self._link(token)
            elif token.type.rpartition("_")[0] in _TAGS:
                self._tag(token.type)
            elif token.type == "text":
                self._add(escape(token.content))
            elif token.type == "code_inline":
                self._add(f'<font face="Courier">{escape(token.content)}</font>')
            elif token.type in ("softbreak", "hardbreak"):
                self._add(" ")

    def _html(self, html: str) -> None:
        """Inline HTML is dropped, and a script's or a style's text with it."""
        hiding = _HIDING.match(html)
        if hiding:
            self.hidden = max(0, self.hidden + (-1 if hiding.group(1) else 1))

    def _tag(self, token_type: str) -> None:
        kind, _, edge = token_type.rpartition("_")
        tag = _TAGS[kind]
        if edge == "open":
            self._add(f"<{tag}>")
            self.open_tags.append(tag)
        elif self.open_tags and self.open_tags[-1] == tag:
            self.out.append(f"</{self.open_tags.pop()}>")
            self.size += 3 + len(tag)

    def _link(self, token: Token) -> None:
        if token.type == "link_open":
            self.links.append((str(token.attrs.get("href", "")), len(self.out)))
        elif self.links:
            href, start = self.links.pop()
            shown, url = "".join(self.out[start:]), escape(_MARKDOWN.normalizeLinkText(href))
            if not (shown and url.endswith(shown)):  # an autolink (<https://...>) shows its url once
                self._add(f" ({url})")

    def finish(self) -> list[str]:
        return [*self.pieces, self._closed()]

    def _add(self, markup: str) -> None:
        if self.size >= _PIECE_CHARS:
            self.pieces.append(self._closed())
            self.out, self.size = [f"<{tag}>" for tag in self.open_tags], 0
            self.links = [(href, 0) for href, _ in self.links]
        self.out.append(markup)
        self.size += len(markup)

    def _closed(self) -> str:
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open_tags))


_SPECIAL = re.compile(r"[^\x20-\x7e\n]")
_LINE_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def normalise(text: str) -> str:
    """Text any font and reportlab's parser can take: see the module's docstring."""
    return _SPECIAL.sub(lambda m: _normal_char(m.group()), text.replace("\r\n", "\n"))


@functools.lru_cache(maxsize=4096)
def _normal_char(char: str) -> str:
    if char in _LINE_BREAKS:
        return "\n"
    if char == "\t":
        return "    "
    category = unicodedata.category(char)
    if category == "Cs" or char in "\ufffe\uffff":  # not characters: XML refuses them too
        return "\ufffd"
    if category in ("Cc", "Cf"):
        return ""
    if category == "Zs" and char != "\xa0":
        return " "
    return char


def _code(line: str) -> str:
    """A line of a code block: escaped, its indentation kept."""
    stripped = line.lstrip(" ")
    return "&nbsp;" * (len(line) - len(stripped)) + escape(stripped)


def _paragraphs(pieces: list[str], style: str) -> list[Flowable]:
    return [Paragraph(markup, STYLES[style]) for markup in pieces]


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
    "code": _style("code", 8.5, "Courier", after=0),
}
