"""Plain text out of markup (jobs/cv/text.py) and the text budget of a document being read
(jobs/documents/text_budget.py)."""

from __future__ import annotations

import pytest

from jobs.core.errors import WorkFailed
from jobs.cv.text import strip_html
from jobs.documents.text_budget import TextBudget, clean


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Senior  Python\tEngineer ", "Senior Python Engineer"),
        ("a &amp; b\r\n  c\t\td  ", "a & b\nc d"),
        ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),  # a lone '<' is text, not a tag
        ("<b>Lead</b> <i>Engineer</i>", "Lead Engineer"),
        ("<p>Hi</p><script>alert(1)</script><style>p{}</style>there", "Hithere"),
        ("<img src=https://example.com/x.png onerror=alert(1)>CV", "CV"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("<p>Fish &amp; chips &lt;3</p>", "Fish & chips <3"),
    ],
)
def test_strip_html_keeps_only_the_text(given, expected):
    assert strip_html(given) == expected


def test_script_text_stays_hidden_until_its_end_tag_or_for_good():
    # As in a browser: inside a script everything up to the first </script> is its text.
    assert strip_html("<script><script>x</script>y</script>z") == "yz"
    assert strip_html("shown<script>hidden forever") == "shown"


def test_clean_turns_pdf_bullet_glyphs_into_bullets_and_drops_controls():
    assert clean("\uf0b7 Python\n\u25aa Go\x7f\n\x00a\x0cb\x85c") == "• Python\n• Go•\nabc"


def test_the_budget_counts_each_piece_and_its_separator():
    budget = TextBudget(max_chars=11)
    assert budget.take("hello") == "hello"
    assert budget.take("world") == "world"  # 5 + 1 + 5 = 11: exactly the cap
    assert budget.used == 12
    with pytest.raises(WorkFailed) as refused:
        budget.take("!")
    assert refused.value.code == "TEXT_TOO_LONG"
    assert str(refused.value) == "the document has more than 11 characters of text; the limit is 11"


def test_the_budget_counts_text_as_cleaned():
    budget = TextBudget(max_chars=3)
    assert budget.take("a\x00\x01b\x02c") == "abc"
