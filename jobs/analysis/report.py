"""The shape of a CV analysis, as stored (JSON) and as the API serves it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def described(text: str) -> dict[str, str]:
    """Field metadata: a description, which the API shows in its schema."""
    return {"description": text}


@dataclass(frozen=True, slots=True)
class ScorePart:
    """One part of the overall score, which adds up score x weight."""

    name: str
    score: float = field(metadata=described("0..100"))
    weight: float = field(metadata=described("Its share of the overall score."))
    detail: str


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    term: str
    weight: int = field(metadata=described("How often the position and job description use the term."))


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    percent: int = field(
        metadata=described("Weight of the present terms over the weight of all terms, in %.")
    )
    present: list[WeightedTerm] = field(
        metadata=described("Key terms of the job that the CV contains (whole words).")
    )
    missing: list[WeightedTerm] = field(metadata=described("Key terms of the job that the CV lacks."))
    stuffed: list[str] = field(
        metadata=described("Terms repeated so often that they read as keyword stuffing.")
    )


@dataclass(frozen=True, slots=True)
class SectionScore:
    name: str
    present: bool
    score: int
    notes: list[str]


@dataclass(frozen=True, slots=True)
class AtsIssue:
    """Something that costs ATS compatibility."""

    issue: str
    points: int = field(metadata=described("Taken off the 100."))


@dataclass(frozen=True, slots=True)
class WeakBullet:
    """A bullet that opens with a weak phrase, and action verbs to open it with instead."""

    text: str
    phrase: str
    suggestions: list[str]


@dataclass(frozen=True, slots=True)
class Contacts:
    """Contact details found in the CV."""

    emails: list[str]
    phones: list[str]
    urls: list[str]
    addresses: list[str]


@dataclass(frozen=True, slots=True)
class Readability:
    flesch_reading_ease: float = field(metadata=described("0..100: higher reads more easily."))
    label: str = field(metadata=described("easy (60 and over), standard (30 to 60) or difficult."))


@dataclass(frozen=True, slots=True)
class CvAnalysis:
    overall_score: int
    parts: list[ScorePart]
    ats_compatibility: int
    ats_issues: list[AtsIssue]
    keyword_match: KeywordMatch
    sections: list[SectionScore]
    missing_sections: list[str]
    contacts: Contacts
    bullets: int
    quantified_bullets: int
    quantified_share: float = field(metadata=described("Share of bullets with a number, 0..1."))
    weak_bullets: list[WeakBullet]
    word_count: int
    page_count: int
    readability: Readability
    layout_warnings: list[str]
    # Who and what it belongs to; filled in when stored.
    meta: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return asdict(self)
