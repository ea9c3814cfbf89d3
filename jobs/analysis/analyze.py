"""The offline CV analysis: deterministic scores, each with its breakdown (README: "How the
analysis scores"). The same text, position, job description and layout give the same result."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jobs.analysis.readability import flesch_reading_ease, label
from jobs.analysis.report import (
    AtsIssue,
    Contacts,
    CvAnalysis,
    KeywordMatch,
    Readability,
    ScorePart,
    SectionScore,
    WeakBullet,
    WeightedTerm,
)
from jobs.cv.keywords import find_word, tokens, top_keywords, word_count
from jobs.cv.privacy import Redactor
from jobs.engines.offline import BULLET, WEAK_OPENERS, Section, parse_sections

SCORED_SECTIONS = ("Summary", "Experience", "Skills", "Education", "Projects")
CORE_SECTIONS = ("Experience", "Education", "Skills")
WEIGHTS = {"keywords": 0.30, "sections": 0.25, "ats": 0.20, "impact": 0.15, "readability": 0.10}
# Suggestions for a weak opener, by the action verb the offline rewriter puts in its place.
SUGGESTIONS = {
    "Owned": ["Owned", "Led", "Managed"],
    "Led": ["Led", "Directed", "Headed"],
    "Delivered": ["Delivered", "Built", "Developed"],
    "Contributed to": ["Contributed to", "Supported", "Enabled"],
    "Handled": ["Handled", "Resolved", "Executed"],
}
_DEGREE = re.compile(r"\b(?:19|20)\d{2}\b|\b(?:BSc|MSc|BA|MA|MBA|PhD|Bachelor|Master|Diploma|Degree)\b", re.I)
STUFFING_MIN_COUNT, STUFFING_MIN_SHARE = 6, 0.02


@dataclass(frozen=True)
class AnalysisInput:
    cv_text: str
    position: str
    job_description: str | None = None
    pages: int | None = None
    layout: dict[str, Any] = field(default_factory=dict)


def analyze(source: AnalysisInput) -> CvAnalysis:
    text = source.cv_text
    _, parsed = parse_sections(text)
    sections = {s.title: s for s in parsed}
    words = word_count(text)
    bullets = [BULLET.sub("", line) for line in text.splitlines() if BULLET.match(line)]
    quantified = sum(1 for b in bullets if re.search(r"\d", b))
    weak = [w for w in map(_weak, bullets) if w is not None]
    keywords = _keyword_match(text, source.position, source.job_description, words)
    contacts = _contacts(text)
    ats_issues = _ats_issues(sections, contacts, words, source.layout)
    ats = max(0, 100 - sum(i.points for i in ats_issues))
    scores = [_section_score(name, sections.get(name), keywords) for name in SCORED_SECTIONS]
    flesch = flesch_reading_ease(text)
    share = quantified / len(bullets) if bullets else 0.0
    parts = _parts(keywords, scores, ats, share, flesch)
    return CvAnalysis(
        overall_score=round(sum(p.score * p.weight for p in parts)),
        parts=parts,
        ats_compatibility=ats,
        ats_issues=ats_issues,
        keyword_match=keywords,
        sections=scores,
        missing_sections=[s.name for s in scores if not s.present],
        contacts=contacts,
        bullets=len(bullets),
        quantified_bullets=quantified,
        quantified_share=round(share, 3),
        weak_bullets=weak,
        word_count=words,
        page_count=source.pages or max(1, math.ceil(words / 500)),
        readability=Readability(flesch, label(flesch)),
        layout_warnings=_layout_warnings(source.layout),
    )


def _keyword_match(text: str, position: str, job_description: str | None, words: int) -> KeywordMatch:
    wanted = f"{position}\n{job_description or ''}"
    counts = Counter(tokens(wanted))
    terms = [WeightedTerm(t, counts[t]) for t in top_keywords(wanted, limit=20)]
    present = [t for t in terms if find_word(text, t.term)]
    missing = [t for t in terms if t not in present]
    total = sum(t.weight for t in terms)
    percent = round(100 * sum(t.weight for t in present) / total) if total else 0
    cv_counts = Counter(tokens(text))
    stuffed = [
        t.term
        for t in present
        if cv_counts[t.term] >= STUFFING_MIN_COUNT and cv_counts[t.term] / max(words, 1) > STUFFING_MIN_SHARE
    ]
    return KeywordMatch(percent, present, missing, stuffed)


def _section_score(name: str, section: Section | None, keywords: KeywordMatch) -> SectionScore:
    if section is None:
        return SectionScore(name, False, 0, [f"No {name} section"])
    body = "\n".join(section.lines)
    lines = [line for line in section.lines if line.strip()]
    bullets = [BULLET.sub("", line) for line in lines if BULLET.match(line)]
    score, notes = _SECTION_RULES[name](body, lines, bullets, keywords)
    return SectionScore(name, True, round(score), notes)


def _summary(
    body: str, lines: list[str], bullets: list[str], keywords: KeywordMatch
) -> tuple[float, list[str]]:
    size = word_count(body)
    targeted = any(find_word(body, t.term) for t in keywords.present)
    notes = [] if 20 <= size <= 120 else [f"{size} words; 20 to 120 read best"]
    notes += [] if targeted else ["Names none of the job's key terms"]
    return 50 + (25 if 20 <= size <= 120 else 0) + (25 if targeted else 0), notes


def _experience(
    body: str, lines: list[str], bullets: list[str], keywords: KeywordMatch
) -> tuple[float, list[str]]:
    if not bullets:
        return 40, ["No bullet points: list achievements one per line"]
    quantified = sum(1 for b in bullets if re.search(r"\d", b)) / len(bullets)
    weak = sum(1 for b in bullets if _weak(b)) / len(bullets)
    notes = [
        f"{round(quantified * 100)}% of bullets quantified",
        f"{round(weak * 100)}% open with a weak phrase",
    ]
    return 40 + 30 * quantified + 30 * (1 - weak), notes


def _skills(
    body: str, lines: list[str], bullets: list[str], keywords: KeywordMatch
) -> tuple[float, list[str]]:
    items = [i for i in re.split(r"[,;|\n]", body) if i.strip()]
    relevant = any(find_word(body, t.term) for t in keywords.present)
    notes = [f"{len(items)} skills listed"] + ([] if relevant else ["None of the job's key terms"])
    return 50 + (25 if len(items) >= 5 else 0) + (25 if relevant else 0), notes


def _education(
    body: str, lines: list[str], bullets: list[str], keywords: KeywordMatch
) -> tuple[float, list[str]]:
    detailed = bool(_DEGREE.search(body))
    return 70 + (30 if detailed else 0), [] if detailed else ["Name the degree and the year"]


def _projects(
    body: str, lines: list[str], bullets: list[str], keywords: KeywordMatch
) -> tuple[float, list[str]]:
    enough = len(lines) >= 2
    return 60 + (40 if enough else 0), [] if enough else ["Describe at least two projects"]


_SECTION_RULES = {
    "Summary": _summary,
    "Experience": _experience,
    "Skills": _skills,
    "Education": _education,
    "Projects": _projects,
}


def _weak(bullet: str) -> WeakBullet | None:
    for pattern, verb in WEAK_OPENERS:
        found = re.match(rf"{pattern}\b", bullet.strip(), re.IGNORECASE)
        if found:
            return WeakBullet(bullet.strip(), found.group(0), SUGGESTIONS[verb])
    return None


def _contacts(text: str) -> Contacts:
    redactor = Redactor()
    redactor.redact(text)
    found = redactor.originals

    def of(kind: str) -> list[str]:
        return [value for placeholder, value in found.items() if placeholder.startswith(f"[{kind}_")]

    return Contacts(emails=of("EMAIL"), phones=of("PHONE"), urls=of("URL"), addresses=of("ADDRESS"))


def _ats_issues(
    sections: dict[str, Section], contacts: Contacts, words: int, layout: dict[str, Any]
) -> list[AtsIssue]:
    issues = []
    if not contacts.emails:
        issues.append(AtsIssue("No email address", 15))
    if not contacts.phones:
        issues.append(AtsIssue("No phone number", 10))
    issues += [AtsIssue(f"No {name} section heading", 10) for name in CORE_SECTIONS if name not in sections]
    if layout.get("multiColumn"):
        issues.append(AtsIssue("Several columns", 20))
    if layout.get("tables"):
        issues.append(AtsIssue("Tables", 10))
    if words < 150:
        issues.append(AtsIssue(f"Only {words} words", 10))
    elif words > 1000:
        issues.append(AtsIssue(f"{words} words: trim to two pages", 10))
    return issues


def _parts(
    keywords: KeywordMatch, sections: list[SectionScore], ats: int, share: float, flesch: float
) -> list[ScorePart]:
    average = sum(s.score for s in sections) / len(sections)
    return [
        ScorePart(
            "keywords", keywords.percent, WEIGHTS["keywords"], f"{keywords.percent}% of the job's key terms"
        ),
        ScorePart("sections", round(average, 1), WEIGHTS["sections"], "average of the five section scores"),
        ScorePart("ats", ats, WEIGHTS["ats"], "ATS compatibility"),
        ScorePart("impact", round(share * 100, 1), WEIGHTS["impact"], "share of bullets with a number"),
        ScorePart("readability", flesch, WEIGHTS["readability"], "Flesch reading ease"),
    ]


def _layout_warnings(layout: dict[str, Any]) -> list[str]:
    warnings = []
    if layout.get("multiColumn"):
        warnings.append("Two or more columns: many ATS read straight across the page and mix the columns up")
    if layout.get("tables"):
        warnings.append(f"{layout['tables']} table(s): many ATS skip or scramble table cells")
    return warnings
