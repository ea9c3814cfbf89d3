"""The PDF renderer (jobs/documents/render.py) apart from its layout: text normalised for the font,
inline Markdown escaped and balanced, nothing fetched, the same bytes for the same Markdown, and the
text read back in the document's order. What each block prints and where is in test_render_order.py."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from jobs.documents.render import inline_markup, normalise, render_pdf


def _text(markdown: str) -> str:
    reader = PdfReader(io.BytesIO(render_pdf(markdown).content))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("zero\u200bwidth", "zerowidth"),  # format marks go
        ("bidi\u202eflip", "bidiflip"),
        ("bell\x07", "bell"),  # control characters go
        ("line\u2028sep\rcr\r\ncrlf", "line\nsep\ncr\ncrlf"),
        ("em\u2003space", "em space"),  # unusual spaces become plain ones
        ("no\u00a0break", "no\u00a0break"),  # except the no-break space, which means something
        ("tab\there", "tab    here"),
        ("lone\ud800surrogate\ufffe", "lone\ufffdsurrogate\ufffd"),
        ("Zoë Łukasz Ørsted", "Zoë Łukasz Ørsted"),
    ],
)
def test_normalise(given, expected):
    assert normalise(given) == expected


@pytest.mark.parametrize(
    ("markdown", "markup"),
    [
        ("**Lead** _Engineer_", "<b>Lead</b> <i>Engineer</i>"),
        ("**a _b** c_", "<b>a _b</b> c_"),  # overlapping emphasis: the stray mark stays text
        ("a < b & c", "a &lt; b &amp; c"),
        ("`code <x>`", '<font face="Courier">code &lt;x&gt;</font>'),
        ("~~old~~", "<strike>old</strike>"),
        ("[site](https://example.com)", "site (https://example.com)"),  # links as text and address
        ("<https://example.com>", "https://example.com"),  # an autolink shows its address once
        ("![portrait](https://tracker.example/p.png)", "portrait"),  # an image: its alt text only
        ('<img src="https://tracker.example/p.png">hi', "hi"),
        ("<script>fetch('x')</script>ok", "ok"),
    ],
)
def test_inline_markup_is_escaped_balanced_and_never_a_fetch(markdown, markup):
    assert inline_markup(markdown) == [markup]


def test_a_long_paragraph_is_cut_into_pieces_each_with_its_tags_balanced():
    words = [f"w{i}" for i in range(400)]
    pieces = inline_markup("**" + " ".join(f"{word} `c`" for word in words) + "**")
    assert len(pieces) > 1
    for piece in pieces:
        assert piece.startswith("<b>") and piece.endswith("</b>")
        assert piece.count("<b>") == piece.count("</b>") == 1
        assert piece.count("<font") == piece.count("</font>")
    text = re.sub(r"<[^>]+>", "", "".join(pieces))
    assert text == " ".join(f"{word} c" for word in words)


def test_the_same_markdown_gives_the_same_bytes_and_a_real_pdf():
    first, second = render_pdf("# Jane\n\nHello"), render_pdf("# Jane\n\nHello")
    assert first.content == second.content
    assert first.content.startswith(b"%PDF-") and first.pages == 1


def test_pages_are_counted_and_the_title_is_normalised():
    rendered = render_pdf("# T\n\n" + "".join(f"- item {i}\n" for i in range(200)), title="Jane\x00 CV")
    reader = PdfReader(io.BytesIO(rendered.content))
    assert rendered.pages == len(reader.pages) > 1
    assert reader.metadata is not None and reader.metadata.title == "Jane CV"


def test_the_text_reads_back_in_the_documents_order():
    text = _text(
        "# Jane Doe\n\n## Experience\n\nAcme - Engineer\n\n"
        "- Built billing\n- Cut costs\n\n## Skills\n\nPython"
    )
    order = ["Jane Doe", "Experience", "Acme - Engineer", "Built billing", "Cut costs", "Skills", "Python"]
    positions = [text.find(part) for part in order]
    assert -1 not in positions, text
    assert positions == sorted(positions), text


def test_the_empty_document_renders_one_blank_page():
    rendered = render_pdf("")
    assert rendered.pages == 1
    assert _text("").strip() == ""
