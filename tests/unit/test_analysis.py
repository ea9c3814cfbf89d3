"""The offline CV analysis (jobs/analysis): readability, scores and their breakdown."""

from __future__ import annotations

import pytest

from jobs.analysis import AnalysisInput, analyze
from jobs.analysis.analyze import WEIGHTS
from jobs.analysis.readability import flesch_reading_ease, label, syllables
from tests.samples import CV, JOB_DESCRIPTION

POSITION = "Senior Python Engineer"


@pytest.mark.parametrize(
    ("word", "count"),
    [("make", 1), ("table", 2), ("free", 1), ("the", 1), ("rhythm", 1), ("engineer", 3), ("reliable", 3)],
)
def test_syllables_are_vowel_groups_less_a_silent_e(word, count):
    assert syllables(word) == count


def test_flesch_reading_ease_follows_its_formula_bullets_counting_as_sentences():
    text = "Engineers build reliable systems.\n- Teams deploy code daily"
    words, sentences, syllable_count = 8, 2, 3 + 1 + 3 + 2 + 1 + 2 + 1 + 2
    expected = 206.835 - 1.015 * words / sentences - 84.6 * syllable_count / words
    assert flesch_reading_ease(text) == round(expected, 1) == 44.2


def test_flesch_reading_ease_is_kept_within_0_and_100():
    assert flesch_reading_ease("The cat sat on the mat.") == 100.0
    hard = "Internationalization necessitates extraordinary organizational ability."
    assert flesch_reading_ease(hard) == 0.0
    assert flesch_reading_ease("2024 - 2025") == 0.0  # no words


@pytest.mark.parametrize(
    ("score", "name"), [(60, "easy"), (59.9, "standard"), (30, "standard"), (29.9, "difficult")]
)
def test_readability_labels(score, name):
    assert label(score) == name


@pytest.fixture(scope="module")
def sample():
    return analyze(AnalysisInput(CV, POSITION, JOB_DESCRIPTION, layout={"tables": 2}))


def test_the_overall_score_adds_up_its_weighted_parts(sample):
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert [(p.name, p.weight) for p in sample.parts] == list(WEIGHTS.items())
    assert sample.overall_score == round(sum(p.score * p.weight for p in sample.parts)) == 74


def test_keywords_are_weighted_by_how_often_the_job_names_them(sample):
    match = sample.keyword_match
    assert [(t.term, t.weight) for t in match.present][:3] == [("python", 4), ("senior", 2), ("engineer", 2)]
    assert [t.term for t in match.missing] == ["aws", "build", "platform", "node.js"]
    present = sum(t.weight for t in match.present)
    total = present + sum(t.weight for t in match.missing)
    assert match.percent == round(100 * present / total) == 71
    assert match.stuffed == []


def test_bullets_weak_openers_and_numbers_are_found(sample):
    assert (sample.bullets, sample.quantified_bullets, sample.quantified_share) == (4, 4, 1.0)
    assert [(w.phrase, w.suggestions[0]) for w in sample.weak_bullets] == [
        ("Responsible for", "Owned"),
        ("worked on", "Delivered"),
        ("helped with", "Contributed to"),
    ]


def test_sections_are_scored_and_the_missing_ones_named(sample):
    assert [(s.name, s.present, s.score) for s in sample.sections] == [
        ("Summary", True, 50),
        ("Experience", True, 78),
        ("Skills", True, 100),
        ("Education", True, 100),
        ("Projects", False, 0),
    ]
    assert sample.missing_sections == ["Projects"]
    assert sample.sections[1].notes == ["100% of bullets quantified", "75% open with a weak phrase"]


def test_ats_issues_cost_their_points_and_layout_is_warned_about(sample):
    assert [(i.issue, i.points) for i in sample.ats_issues] == [("Tables", 10), ("Only 93 words", 10)]
    assert sample.ats_compatibility == 80
    assert sample.layout_warnings == ["2 table(s): many ATS skip or scramble table cells"]
    assert sample.contacts.emails == ["jane.doe@example.com"]


def test_a_cv_without_contacts_or_sections_loses_points_for_each():
    result = analyze(AnalysisInput("Just a line about me.", "Engineer", layout={"multiColumn": True}))
    assert [(i.issue, i.points) for i in result.ats_issues] == [
        ("No email address", 15),
        ("No phone number", 10),
        ("No Experience section heading", 10),
        ("No Education section heading", 10),
        ("No Skills section heading", 10),
        ("Several columns", 20),
        ("Only 5 words", 10),
    ]
    assert result.ats_compatibility == 15
    assert result.missing_sections == ["Summary", "Experience", "Skills", "Education", "Projects"]
    assert result.page_count == 1


def test_a_term_repeated_past_the_stuffing_threshold_is_reported():
    cv = "EXPERIENCE\n" + "\n".join(f"- Python work item {i}" for i in range(8))
    result = analyze(AnalysisInput(cv, "Python developer"))
    assert result.keyword_match.stuffed == ["python"]


def test_the_same_input_gives_the_same_analysis(sample):
    assert analyze(AnalysisInput(CV, POSITION, JOB_DESCRIPTION, layout={"tables": 2})) == sample
