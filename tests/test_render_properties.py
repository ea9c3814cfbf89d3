"""The renderer never fails on what a model writes: any text, and any mix of Markdown, renders as
a PDF, and the markup reportlab is handed is always well formed.

Bounded for `make test` (about 10 s); FUZZ_EXAMPLES=5000 runs each property that many times,
with fresh random examples, as the suite's other fuzzers do."""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ElementTree

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from jobs.documents.render import inline_markup, normalise, render_pdf

LONG_RUN = int(os.environ.get("FUZZ_EXAMPLES", "0"))
PDF_EXAMPLES = LONG_RUN or 40
EMPHASIS_EXAMPLES = LONG_RUN or 300
MARKUP_EXAMPLES = LONG_RUN or 300

# Every Unicode category: letters, marks, numbers, punctuation, symbols, separators, and the
# others (controls, format marks, lone surrogates, private use, unassigned).
ANY_CHARACTER = st.characters(categories=("L", "M", "N", "P", "S", "Z", "C"))
ANY_TEXT = st.text(ANY_CHARACTER, max_size=400)

# What models write, and what breaks naive Markdown-to-markup converters.
FRAGMENTS = [
    *"*_`~[]()!<>&|#-+>\\\n",
    "**", "__", "***", "~~", "```", "~~~", "\n\n", "# ", "## ", "###### ", "- ", "  - ", "    * ",
    "1. ", "2) ", "> ", ">> ", "---", "***\n", "| a | b |\n", "|---|:-:|\n", "![alt](", "](",
    "](http://x.y/?a=<b>&c)", "<http://x.y/z>", "<a@b.c>", "[t](javascript:alert(1))", "<b>", "</b>",
    "<i>", "</i>", "<font face='x'>", "<para>", "<br/>", "<img src='http://127.0.0.1:1/x'>", "<script>",
    "</script>", "<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&lt;", "&#0;", "&#xD800;", "&bogus;",
    "\\*", "\x00", "\x1b", "\t", "\r", "\u2028", "\u200b", "\u200e", "\u202e", "\ufeff", "\ud800",
    "\u00ad", "שלום ", "مرحبا ", "漢字", "🙂", "word ", "Senior Engineer ", "x" * 300,
    "https://example.com/" + "a" * 200,
]  # fmt: skip
WORDS = st.sampled_from(["a", "b", "Led", "c++", "x_y", " ", " ", "\n"])
MARKDOWNISH = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), WORDS, WORDS, st.text(ANY_CHARACTER, max_size=8)), max_size=80
).map("".join)
# Delimiters packed close together: overlapping and unbalanced emphasis, code and links (the
# renderer this one replaced failed on such text after about 50 of these; on MARKDOWNISH, 600).
EMPHASIS = st.lists(
    st.sampled_from(["**", "*", "_", "__", "`", "~~", "[", "](http://u)", "<", "&", "a", "b", " ", "\n"]),
    max_size=30,
).map("".join)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=not LONG_RUN,  # the short run is the same every time; a long one explores
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _assert_renders(text: str) -> None:
    pdf = render_pdf(text)
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.pages >= 1
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == pdf.pages


@_settings(PDF_EXAMPLES)
@given(ANY_TEXT)
def test_any_text_renders(text: str) -> None:
    _assert_renders(text)


@_settings(PDF_EXAMPLES)
@given(MARKDOWNISH)
def test_any_markdown_renders(text: str) -> None:
    _assert_renders(text)


@_settings(EMPHASIS_EXAMPLES)
@given(EMPHASIS)
def test_any_emphasis_renders(text: str) -> None:
    _assert_renders(text)


@_settings(MARKUP_EXAMPLES)
@given(st.one_of(EMPHASIS, MARKDOWNISH, ANY_TEXT))
def test_reportlab_only_ever_gets_well_formed_markup(text: str) -> None:
    for piece in inline_markup(normalise(text)):
        ElementTree.fromstring(f"<para>{piece}</para>")  # raises on an unbalanced or unknown entity


@_settings(MARKUP_EXAMPLES)
@given(st.one_of(MARKDOWNISH, ANY_TEXT))
def test_normalised_text_has_no_invisible_or_control_characters(text: str) -> None:
    kept = normalise(text)
    assert not [c for c in kept if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0)]
    assert not {"\u200b", "\u200e", "\u202e", "\ufeff", "\u2028"} & set(kept)
    assert not [c for c in kept if 0xD800 <= ord(c) <= 0xDFFF]
