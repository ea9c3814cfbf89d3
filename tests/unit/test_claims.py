"""The truthfulness check (jobs/cv/claims.py): what a rewrite states that the source CV does not."""

from __future__ import annotations

from jobs.core.outputs import Claim
from jobs.cv.claims import unverified_claims

SOURCE = """Jane Doe
## Experience
Acme - Engineer (2019-2024)
- Cut costs by 30% and handled 2 million invoices and 1,200 tickets
"""


def test_a_rewrite_that_only_restates_the_source_claims_nothing():
    assert unverified_claims(SOURCE, SOURCE) == []


def test_numbers_are_compared_by_value_not_by_spelling():
    rewrite = "## Experience\n- Handled 2M invoices, 1200 tickets and cut costs by 30 %\n"
    assert unverified_claims(SOURCE, rewrite) == []


def test_new_numbers_are_reported_once_each_as_written():
    rewrite = "## Experience\n- Cut costs by 45% for 3k users; 45% again\n"
    assert unverified_claims(SOURCE, rewrite) == [Claim("NUMBER", "45%"), Claim("NUMBER", "3k")]


def test_role_lines_name_titles_and_employers_the_source_lacks():
    rewrite = """## Experience
Acme - Senior Engineer (2019-2024)
Widget Bank | Staff Engineer
- Cut costs by 30%
"""
    assert unverified_claims(SOURCE, rewrite) == [
        Claim("TITLE", "Senior Engineer"),
        Claim("EMPLOYER", "Widget Bank"),
        Claim("TITLE", "Staff Engineer"),
    ]


def test_at_separates_a_title_from_its_employer():
    assert unverified_claims("x", "Data Analyst at Globex") == [
        Claim("TITLE", "Data Analyst"),
        Claim("EMPLOYER", "Globex"),
    ]


def test_only_the_experience_section_is_read_for_roles_when_there_are_sections():
    rewrite = "## Skills\nPython, Go | Rust\n## Experience\nAcme - Engineer (2019-2024)\n"
    assert unverified_claims(SOURCE, rewrite) == []


def test_bullets_and_sentences_are_not_role_lines():
    rewrite = "## Experience\n- Initech - Manager\nWorked at Initech - as a Manager.\n"
    assert unverified_claims(SOURCE, rewrite) == []


def test_a_name_is_found_in_the_source_whatever_its_case_and_emphasis():
    source = "Experience: **Widget  Bank**, staff ENGINEER"
    assert unverified_claims(source, "Widget Bank - Staff Engineer") == []
