"""The offline analysis: hand-checked figures on fixed sample CVs, and the ANALYZE_CV job."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from jobs.analysis import AnalysisInput, analyze
from jobs.analysis.readability import flesch_reading_ease, syllables
from tests.samples import CV, JOB_DESCRIPTION
from tests.support.documents import docx
from tests.support.gql import (
    GraphQLErrors,
    create_questionnaire,
    execute,
    improve_from_questionnaire,
    stream_of,
    upload_resume,
)

SMALL_CV = """Sam Lee
sam@example.com | +44 7700 900123

SUMMARY
Python developer building data pipelines.

EXPERIENCE
Initech - Developer (2020-2024)
- Responsible for the ETL jobs in Python.
- Cut report time by 40%.
- Worked on the Django admin.

SKILLS
Python, Django, SQL
"""


def test_the_small_sample_scores_as_computed_by_hand():
    a = analyze(AnalysisInput(SMALL_CV, "Python Developer", "Python, Django and AWS. Python daily."))
    # Terms of "Python Developer" + the description, weighted by use: python 3, developer 1,
    # django 1, aws 1 ("and", "daily" are stop words). Present: python, developer, django = 5 of 6.
    assert a.keyword_match.percent == 83
    assert [(t.term, t.weight) for t in a.keyword_match.missing] == [("aws", 1)]
    # Words with a letter or digit: 2 + 4 + 1 + 5 + 1 + 3 + 7 + 5 + 5 + 1 + 3 = 37.
    assert a.word_count == 37 and a.page_count == 1
    # ATS: email and phone found; no Education heading (-10); under 150 words (-10).
    assert a.ats_compatibility == 80
    assert [(i.issue, i.points) for i in a.ats_issues] == [
        ("No Education section heading", 10),
        ("Only 37 words", 10),
    ]
    # Summary: present 50 + length 0 (5 words) + names a key term 25 = 75.
    # Experience: 40 + 30 x 1/3 quantified + 30 x (1 - 2/3 weak) = 60. Skills: 50 + 0 (3 items) + 25 = 75.
    assert [(s.name, s.score) for s in a.sections] == [
        ("Summary", 75),
        ("Experience", 60),
        ("Skills", 75),
        ("Education", 0),
        ("Projects", 0),
    ]
    assert a.missing_sections == ["Education", "Projects"]
    assert (a.bullets, a.quantified_bullets, a.quantified_share) == (3, 1, 0.333)
    assert [(w.phrase, w.suggestions[0]) for w in a.weak_bullets] == [
        ("Responsible for", "Owned"),
        ("Worked on", "Delivered"),
    ]
    assert asdict(a.contacts) == {
        "emails": ["sam@example.com"],
        "phones": ["+44 7700 900123"],
        "urls": [],
        "addresses": [],
    }
    # Flesch: 34 words (letters only), 11 sentences (lines and full stops), 64 syllables:
    # 206.835 - 1.015 x 34/11 - 84.6 x 64/34 = 44.45.
    assert a.readability.flesch_reading_ease == 44.5 and a.readability.label == "standard"
    # 0.30 x 83 + 0.25 x 42 (mean of 75, 60, 75, 0, 0) + 0.20 x 80 + 0.15 x 33.3 + 0.10 x 44.5 = 60.8.
    assert [(p.name, p.score) for p in a.parts] == [
        ("keywords", 83),
        ("sections", 42.0),
        ("ats", 80),
        ("impact", 33.3),
        ("readability", 44.5),
    ]
    assert a.overall_score == 61
    assert a.layout_warnings == []


def test_the_full_sample_against_its_job_description():
    a = analyze(AnalysisInput(CV, "Senior Python Engineer", JOB_DESCRIPTION))
    # Every bullet has a number (2M, 30%, 12, 40); three of four open weakly.
    assert (a.bullets, a.quantified_bullets) == (4, 4)
    assert [w.phrase for w in a.weak_bullets] == ["Responsible for", "worked on", "helped with"]
    # c++ and node.js stay whole tokens: node.js is asked for and missing.
    assert "node.js" in [t.term for t in a.keyword_match.missing]
    assert {"python", "django", "postgresql", "kubernetes"} <= {t.term for t in a.keyword_match.present}
    assert [s.name for s in a.sections if not s.present] == ["Projects"]
    assert a.ats_compatibility == 90  # only its length (93 words) costs points
    assert (
        a.overall_score == analyze(AnalysisInput(CV, "Senior Python Engineer", JOB_DESCRIPTION)).overall_score
    )


def test_keyword_stuffing_and_layout_are_flagged():
    stuffed = "EXPERIENCE\n" + "- Python Python Python Python Python Python work\n" + "SKILLS\nPython, Go\n"
    a = analyze(AnalysisInput(stuffed, "Python Engineer", None, layout={"multiColumn": True, "tables": 2}))
    assert a.keyword_match.stuffed == ["python"]
    assert [i.issue for i in a.ats_issues if i.issue in ("Several columns", "Tables")] == [
        "Several columns",
        "Tables",
    ]
    assert len(a.layout_warnings) == 2 and "2 table(s)" in a.layout_warnings[1]


@pytest.mark.parametrize(
    ("word", "count"), [("responsible", 4), ("service", 2), ("the", 1), ("sql", 1), ("table", 2), ("free", 1)]
)
def test_syllables(word, count):
    assert syllables(word) == count


def test_flesch_reading_ease_by_hand():
    # 5 words, 1 sentence, 4 + 1 + 1 + 2 + 2 = 10 syllables: 206.835 - 1.015 x 5 - 84.6 x 2 = 32.56.
    assert flesch_reading_ease("Responsible for the billing service.") == 32.6
    assert flesch_reading_ease("The cat sat. The dog ran.") == 100.0  # clamped
    assert flesch_reading_ease("") == 0.0


ANALYSIS = (
    "query($id: ID!) { job(id: $id) { state analysis { id overallScore atsCompatibility wordCount "
    "layoutWarnings atsIssues { issue points } keywordMatch { percent } questionnaireId } } }"
)


async def test_analyze_cv_job_reads_the_uploaded_cv_and_its_layout(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http, position="Python Developer")
    content = docx(SMALL_CV.splitlines(), table=[["Python", "SQL"]])
    uploaded = await upload_resume(offline_stack.http, questionnaire["id"], content, filename="cv.docx")
    await stream_of(offline_stack.ws, uploaded["job"]["id"])
    job = (
        await execute(
            offline_stack.http,
            "mutation($q: ID!) { analyzeCv(questionnaireId: $q) { id kind state } }",
            {"q": questionnaire["id"]},
        )
    )["analyzeCv"]
    assert job["kind"] == "ANALYZE_CV"
    events = await stream_of(offline_stack.ws, job["id"], after_seq=0)
    assert events[-1]["state"] == "SUCCEEDED" and {e["stage"] for e in events} >= {"analyzing"}
    assert any((e["message"] or "").startswith("Score ") for e in events)
    analysis = (await execute(offline_stack.http, ANALYSIS, {"id": job["id"]}))["job"]["analysis"]
    assert analysis["questionnaireId"] == questionnaire["id"]
    assert ("Tables", 10) in [(i["issue"], i["points"]) for i in analysis["atsIssues"]]
    assert analysis["layoutWarnings"] == ["1 table(s): many ATS skip or scramble table cells"]
    listed = await execute(
        offline_stack.http,
        "query($id: ID!) { questionnaire(id: $id) { analyses { id } } }",
        {"id": questionnaire["id"]},
    )
    assert listed["questionnaire"]["analyses"] == [{"id": analysis["id"]}]


async def test_an_improve_job_starts_with_the_analysis(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    job = await improve_from_questionnaire(offline_stack.http, questionnaire["id"], cvText=CV)
    events = await stream_of(offline_stack.ws, job["id"], after_seq=0)
    stages = [e["stage"] for e in events]
    assert stages.index("analyzing") < stages.index("generating")
    analysis = (await execute(offline_stack.http, ANALYSIS, {"id": job["id"]}))["job"]["analysis"]
    assert analysis["wordCount"] == 93 and analysis["questionnaireId"] == questionnaire["id"]


async def test_analyze_cv_without_a_cv_is_refused(offline_stack):
    questionnaire = await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as error:
        await execute(
            offline_stack.http,
            "mutation($q: ID!) { analyzeCv(questionnaireId: $q) { id } }",
            {"q": questionnaire["id"]},
        )
    assert error.value.codes == ["NO_CV_TEXT"]
