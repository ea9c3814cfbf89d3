"""The offline engine's rewrite and the chunk coalescer: plain functions, no services needed."""

from __future__ import annotations

from jobs.cv.keywords import contains_word, top_keywords
from jobs.engines.base import Advice, Finish, ImproveRequest
from jobs.engines.coalesce import coalesce
from jobs.engines.offline import OfflineEngine, rewrite
from jobs.engines.offline import advice as advice_for
from tests.samples import CV, JOB_DESCRIPTION


def test_rewrite_normalises_sections_bullets_and_wording():
    text = rewrite(ImproveRequest(CV, "Senior Python Engineer", JOB_DESCRIPTION))
    assert text.startswith("# Jane Doe\n\njane.doe@example.com | +44 20 7946 0958 | Leeds, UK\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Experience",
        "## Skills",
        "## Education",
    ]
    assert "- Owned the billing service in Python and PostgreSQL, handling 2M invoices a month" in text
    assert "- Delivered the migration to Kubernetes to cut hosting costs by 30%" in text
    assert "- Contributed to on-call rotation for 12 services" in text
    assert "•" not in text and "\n* " not in text


def test_rewrite_aims_at_the_position_without_inventing():
    text = rewrite(ImproveRequest(CV, "Senior Python Engineer", JOB_DESCRIPTION))
    assert "Targeting the Senior Python Engineer role. Backend developer with seven years" in text
    # Skills the job asks for come first, in the CV's own spelling; nothing is added to them.
    assert "Python, Docker, Kubernetes, PostgreSQL" not in text
    assert "\nPython, Kubernetes, PostgreSQL, Java, Docker, Redis, c++\n" in text


def test_terms_the_cv_lacks_are_advice_for_the_candidate_and_stay_out_of_the_cv():
    request = ImproveRequest(CV, "Senior Python Engineer", JOB_DESCRIPTION)
    (advice,) = advice_for(request)
    assert "aws" in advice and "node.js" in advice and "python" not in advice
    text = rewrite(request)
    assert "aws" not in text.lower() and "Suggestions" not in text and "add them only" not in text
    pieces = list(OfflineEngine().stream(request))
    assert "".join(p for p in pieces if isinstance(p, str)) == text
    assert [p for p in pieces if isinstance(p, Advice)] == [Advice(advice)]
    assert pieces[-1] == Finish("stop")


def test_rewrite_is_deterministic():
    request = ImproveRequest(CV, "Senior Python Engineer", JOB_DESCRIPTION)
    assert rewrite(request) == rewrite(request)


def test_keywords_keep_symbols_and_match_whole_words():
    assert top_keywords("C++ and node.js, then C++ again; .NET too")[:3] == ["c++", "node.js", ".net"]
    assert contains_word("Skills: C++, Go", "c++")
    assert not contains_word("Skills: C", "c++")
    assert not contains_word("javascript", "java")


def test_coalesce_releases_the_first_chunk_then_by_size_or_time():
    ticks = iter([0.0, 0.01, 0.02, 0.03, 0.2, 0.21])
    out = list(
        coalesce(["ab", "cd", "ef", "gh", "ij", "kl"], max_chars=5, max_ms=100, clock=lambda: next(ticks))
    )
    assert out == ["ab", "cdefgh", "ij", "kl"]
    assert "".join(out) == "abcdefghijkl"
