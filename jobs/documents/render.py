"""A rewritten CV (Markdown) as a clean A4 PDF, with reportlab.

Whatever a model writes renders. The text is normalised first: control characters and invisible
format marks (zero-width spaces, bidi controls) go, unusual spaces and line separators become
plain ones, lone surrogates and U+FFFE/U+FFFF become U+FFFD. markdown-it's CommonMark parser
(with GFM tables) then reads it into blocks, printed in the document's order: headings,
paragraphs, bullet and numbered lists (nested ones indented), code blocks, table rows (cells
joined by a bar), rules; a quote prints its text. One rule differs from CommonMark: a line right
after a bullet and indented less than its text starts a paragraph of its own rather than
continuing the bullet (see `blocks`). Inline Markdown, whose tokens are always well nested,
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
from markdown_it.tree import SyntaxTreeNode
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
# A list item's first line, up to where its text starts (the column its own lines are indented to).
_ITEM = re.compile(r"^ *(?:[-*+]|\d{1,9}[.)])(?: {1,4}|$)")
_MAX_DEPTH = 4  # list levels shown as indents; deeper ones stay at the last
_PIECE_CHARS = 2000  # of markup in one reportlab paragraph (see _Markup)

# CommonMark (blocks: headings, paragraphs, lists, code, quotes, rules, HTML; inline: emphasis,
# code, links, images, autolinks, escapes, entities, HTML), GFM tables and ~~strikethrough~~;
# HTML tokens are dropped below, their text kept.
_MARKDOWN = MarkdownIt("commonmark").enable(["strikethrough", "table"])
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


def _story(markdown: str) -> list[Flowable]:
    flowables: list[Flowable] = []
    for block in SyntaxTreeNode(blocks(markdown)).children:
        flowables += _block(block, 0)
    return flowables or [Spacer(1, 1)]


def blocks(markdown: str) -> list[Token]:
    """markdown-it's block tokens, every lazy continuation line of a list item made a paragraph
    of its own.

    CommonMark folds a line that directly follows a bullet, indented less than the bullet's text,
    into that bullet ("- Led billing\nWidget Bank - Engineer" is one item): in a CV such a line
    is the next job's title, and folded in it would print inside the bullet above it. A blank
    line before it keeps it in its place as its own paragraph. A nested list may need a pass per
    level, hence the loop (bounded by the nesting markdown-it parses at all)."""
    for _ in range(_MARKDOWN.options["maxNesting"]):
        tokens = _MARKDOWN.parse(markdown)
        lines = markdown.split("\n")
        lazy = _lazy_lines(tokens, lines)
        if not lazy:
            return tokens
        markdown = "\n".join(("\n" if n in lazy else "") + line for n, line in enumerate(lines))
    return _MARKDOWN.parse(markdown)


def _lazy_lines(tokens: list[Token], lines: list[str]) -> set[int]:
    """The first lazy line of each paragraph in a list item: indented less than the item's text."""
    text_columns: list[int | None] = []  # of the list items open around a token
    lazy: set[int] = set()
    for token in tokens:
        if token.type == "list_item_open":
            marker = _ITEM.match(lines[token.map[0]]) if token.map else None
            text_columns.append(marker.end() if marker else None)
        elif token.type == "list_item_close":
            text_columns.pop()
        elif token.type == "paragraph_open" and text_columns and text_columns[-1] is not None and token.map:
            column = text_columns[-1]
            start, end = token.map
            first = next((n for n in range(start + 1, end) if _indent(lines[n]) < column), None)
            if first is not None:
                lazy.add(first)
    return lazy


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(node: SyntaxTreeNode, depth: int) -> list[Flowable]:
    """The flowables of one block of the Markdown and of what it holds, in the document's order."""
    kind = node.type
    if kind == "heading":
        return _paragraphs(_inline(node.children), f"h{min(int(node.tag[1:]), 3)}")
    if kind == "paragraph":
        return _paragraphs(_inline(node.children), "body")
    if kind in ("bullet_list", "ordered_list"):
        return [_list(node, depth)]
    if kind in ("fence", "code_block"):
        # A paragraph per line: one paragraph of thousands of lines costs quadratic time as
        # reportlab splits it page by page.
        lines = node.content.removesuffix("\n").split("\n")
        return [*_paragraphs([_code(line) for line in lines], "code"), Spacer(1, 4)]
    if kind == "table":
        return [flowable for row in _rows(node) for flowable in _paragraphs(_cells(row), "body")]
    if kind == "hr":
        return [HRFlowable(width="100%", thickness=0.5, color="#999999", spaceBefore=4, spaceAfter=4)]
    if kind == "html_block":  # its text, as inline HTML's: tags dropped, scripts and styles hidden
        return _paragraphs(inline_markup(node.content), "body")
    # A quote, a list item, or what markdown-it may add: what it holds.
    return [flowable for child in node.children for flowable in _block(child, depth)]


def _list(node: SyntaxTreeNode, depth: int) -> ListFlowable:
    ordered = node.type == "ordered_list"
    items = [ListItem(_block(item, depth + 1) or [Spacer(1, 1)]) for item in node.children]
    return ListFlowable(
        items,
        bulletType="1" if ordered else "bullet",
        bulletFormat=f"%s{node.markup}" if ordered else None,
        start=str(node.attrs.get("start", 1)) if ordered else "•",
        leftIndent=12 if depth < _MAX_DEPTH else 0,
        bulletFontName="CV",
        bulletFontSize=9.8,
    )


def _rows(table: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [row for section in table.children for row in section.children]


def _cells(row: SyntaxTreeNode) -> list[str]:
    """A table row as one line, its cells separated by a bar."""
    markup = _Markup()
    for n, cell in enumerate(row.children):
        if n:
            markup.text("  |  ")
        markup.write(_tokens(cell.children))
    return markup.finish()


def _inline(children: list[SyntaxTreeNode]) -> list[str]:
    markup = _Markup()
    markup.write(_tokens(children))
    return markup.finish()


def _tokens(children: list[SyntaxTreeNode]) -> list[Token]:
    """The inline tokens under a block node (its one `inline` child)."""
    return [token for child in children if child.token for token in child.token.children or []]


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

    def text(self, text: str) -> None:
        self._add(escape(text))

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
