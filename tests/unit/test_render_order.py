"""The PDF renderer (jobs/documents/render.py) read back with pypdf: what each kind of Markdown
block prints, in which font, how far indented, and that everything prints in the document's order."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from pypdf import PdfReader

from jobs.documents.render import render_pdf


@dataclass(frozen=True)
class Line:
    text: str
    fonts: tuple[str, ...]  # of its runs, in order
    x: float  # where the line starts on the page


def _lines(markdown: str) -> list[Line]:
    """The printed lines, top to bottom, page after page (bullet marks left out)."""
    lines: list[Line] = []
    runs: list[tuple[str, str, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        runs.append((text, str(font.get("/BaseFont", "")) if font else "", cm[4] + tm[4]))
        if text.endswith("\n"):
            end_line()

    def end_line() -> None:
        text = "".join(t for t, _, _ in runs).strip()
        if text and text != "•":
            fonts = tuple(font.split("+")[-1].lstrip("/") for part, font, _ in runs if part.strip())
            lines.append(Line(text, fonts, runs[-1][2]))
        runs.clear()

    for page in PdfReader(io.BytesIO(render_pdf(markdown).content)).pages:
        page.extract_text(visitor_text=visit)
        end_line()
    return lines


def _texts(markdown: str) -> list[str]:
    return [line.text for line in _lines(markdown)]


def test_a_job_title_right_after_a_bullet_prints_after_it_on_its_own_line():
    markdown = (
        "## Experience\n\n"
        "**Widget Bank** - Engineer (2016-2019)\n"
        "- Built the payments API\n"
        "**Acme** - Lead Engineer (2019-2024)\n"
        "- Led the billing team\n"
        "Globex - Intern\n"
        "  - Wrote tests\n"
        "    indented under its bullet: continues it\n"
    )
    assert _texts(markdown) == [
        "Experience",
        "Widget Bank - Engineer (2016-2019)",
        "Built the payments API",
        "Acme - Lead Engineer (2019-2024)",
        "Led the billing team",
        "Globex - Intern",
        "Wrote tests indented under its bullet: continues it",
    ]


def test_a_line_after_a_nested_bullet_lands_at_the_level_its_indent_names():
    lines = _lines("- Acme\n  - Led billing\n  Still about Acme\nWidget Bank\n")
    assert [line.text for line in lines] == ["Acme", "Led billing", "Still about Acme", "Widget Bank"]
    acme, nested, under_acme, top = (line.x for line in lines)
    assert nested > acme == under_acme > top


def test_lists_nest_and_number():
    lines = _lines("- one\n  - two\n    - three\n- four\n\n3. third\n4. fourth\n\n1) a\n2) b\n")
    by_text = {line.text: line.x for line in lines}
    assert by_text["one"] == by_text["four"] < by_text["two"] < by_text["three"]
    text = "\n".join(line.text for line in lines)
    # Each number is printed before its item.
    assert text.split("\n")[4:] == ["3.", "third", "4.", "fourth", "1)", "a", "2)", "b"]


def test_a_loose_list_keeps_each_items_paragraphs_and_a_quote_ends_it():
    shown = _texts("- a\n\n  more about a\n- b\n> quoted\n\nafter")
    assert shown == ["a", "more about a", "b", "quoted", "after"]


def test_emphasis_and_inline_code_change_the_font_only():
    (line,) = _lines("Built **payments** in *Python* with `asyncio` and ~~Perl~~")
    assert line.text == "Built payments in Python with asyncio and Perl"
    assert line.fonts == (
        "BitstreamVeraSans-Roman",
        "BitstreamVeraSans-Bold",
        "BitstreamVeraSans-Roman",
        "BitstreamVeraSans-Oblique",
        "BitstreamVeraSans-Roman",
        "Courier",
        "BitstreamVeraSans-Roman",  # struck through, drawn as a line over the text
    )


def test_code_blocks_print_their_lines_verbatim_in_courier():
    lines = _lines("Before\n\n```python\nif a < b:\n    return '<b>'\n```\n\n    indented code\n\nAfter")
    assert [line.text for line in lines] == ["Before", "if a < b:", "return '<b>'", "indented code", "After"]
    assert {line.fonts for line in lines[1:4]} == {("Courier",)}
    assert lines[2].x == lines[1].x  # the indentation is kept as spaces, drawn from the same margin


def test_links_print_as_text_and_address():
    shown = _texts("See [my site](https://jane.example/cv?a=1&b=2), <https://x.y/z> or **[gh](https://gh.io)**")
    assert shown == ["See my site (https://jane.example/cv?a=1&b=2), https://x.y/z or gh (https://gh.io)"]


def test_tables_print_as_rows_of_cells():
    markdown = "Skills:\n\n| Skill | Years |\n|---|---:|\n| **Python** | 7 |\n| `SQL` | 5 |\n\nAfter"
    assert _texts(markdown) == ["Skills:", "Skill | Years", "Python | 7", "SQL | 5", "After"]


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("Jane Doe\n===\nLeeds\n\nExperience\n---\nAcme", ["Jane Doe", "Leeds", "Experience", "Acme"]),
        ("# One #\n\n#### Four\n\n###### Six", ["One", "Four", "Six"]),
        ("Above\n\n---\n\nBelow", ["Above", "Below"]),
        ("<div>\nHello <b>there</b>\n</div>\n\nNext", ["Hello there", "Next"]),
    ],
    ids=["setext", "atx", "rule", "html-block"],
)
def test_headings_rules_and_html_blocks(markdown: str, shown: list[str]):
    assert _texts(markdown) == shown


def test_a_whole_cv_prints_in_the_documents_order():
    markdown = (
        "# Jane Doe\n\njane@example.com | Leeds\n\n## Experience\n\n"
        "Acme Payments - Senior Developer (2019-2024)\n"
        "- Owned the billing service\n"
        "- Cut hosting costs by 30%\n"
        "Globex - Engineer (2016-2019)\n"
        "- Built REST APIs\n\n"
        "## Skills\n\n| Area | Tools |\n|---|---|\n| Backend | Python |\n\n"
        "## Education\n\nBSc, Leeds, 2016\n"
    )
    expected = [
        "Jane Doe",
        "jane@example.com | Leeds",
        "Experience",
        "Acme Payments - Senior Developer (2019-2024)",
        "Owned the billing service",
        "Cut hosting costs by 30%",
        "Globex - Engineer (2016-2019)",
        "Built REST APIs",
        "Skills",
        "Area | Tools",
        "Backend | Python",
        "Education",
        "BSc, Leeds, 2016",
    ]
    assert _texts(markdown) == expected
    # Long enough to span pages, the order holds across page breaks.
    assert _texts(markdown * 12) == expected * 12
