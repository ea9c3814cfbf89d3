"""Questionnaires: the job a user targets, and the CV they upload for it.

Shapes and Redis commands shared by the API (asyncio) and the workers (sync). Writes are built
on a pipeline passed in, so both kinds of client queue the same commands and only the final
`execute()` differs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from jobs.events import as_text
from jobs.names import Keys

# Sort keys order a user's questionnaires newest first under plain lexicographic order:
# (MAX - created microseconds), zero-padded, then the id to break ties.
_SORT_MAX = 10**17


class ExperienceLevel(StrEnum):
    YEARS_0_2 = "0-2"
    YEARS_3_5 = "3-5"
    YEARS_6_PLUS = "6+"


class CompanySize(StrEnum):
    STARTUP = "startup"
    SMALL = "small"
    MEDIUM = "medium"
    ENTERPRISE = "enterprise"


class ApplicationTimeline(StrEnum):
    IMMEDIATE = "immediate"
    MONTHS_1_3 = "1-3 months"
    MONTHS_3_6 = "3-6 months"
    MONTHS_6_PLUS = "6+ months"


class ResumeFormat(StrEnum):
    PDF = "PDF"
    DOCX = "DOCX"
    TEXT = "TEXT"


class ResumeState(StrEnum):
    UPLOADED = "UPLOADED"
    EXTRACTED = "EXTRACTED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class QuestionnaireFields:
    """What a user fills in; validated and cleaned by the API before it gets here."""

    position: str
    industry: str
    experience_level: ExperienceLevel
    company_size: CompanySize
    application_timeline: ApplicationTimeline
    location: str | None = None
    job_description: str | None = None


@dataclass(frozen=True, slots=True)
class Questionnaire:
    id: str
    owner: str
    fields: QuestionnaireFields
    submitted_at: float
    updated_at: float
    resume_id: str | None = None

    @property
    def sort_key(self) -> str:
        return sort_key(self.id, self.submitted_at)

    def to_hash(self) -> dict[str, str]:
        data = {k: ("" if v is None else str(v)) for k, v in asdict(self.fields).items()}
        return {
            **data,
            "id": self.id,
            "owner": self.owner,
            "submitted_at": repr(self.submitted_at),
            "updated_at": repr(self.updated_at),
            "resume_id": self.resume_id or "",
        }

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> Questionnaire:
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        fields = QuestionnaireFields(
            position=h["position"],
            industry=h["industry"],
            experience_level=ExperienceLevel(h["experience_level"]),
            company_size=CompanySize(h["company_size"]),
            application_timeline=ApplicationTimeline(h["application_timeline"]),
            location=h.get("location") or None,
            job_description=h.get("job_description") or None,
        )
        return cls(
            id=h["id"],
            owner=h["owner"],
            fields=fields,
            submitted_at=float(h["submitted_at"]),
            updated_at=float(h["updated_at"]),
            resume_id=h.get("resume_id") or None,
        )

    def with_fields(self, fields: QuestionnaireFields, now: float) -> Questionnaire:
        return replace(self, fields=fields, updated_at=now)


@dataclass(frozen=True, slots=True)
class Resume:
    """An uploaded CV and, once its EXTRACT_RESUME job succeeded, its text."""

    id: str
    owner: str
    questionnaire_id: str
    filename: str
    format: ResumeFormat
    size: int
    uploaded_at: float
    state: ResumeState = ResumeState.UPLOADED
    job_id: str | None = None
    text: str | None = None
    pages: int | None = None
    words: int | None = None
    layout: dict[str, Any] = field(default_factory=dict)  # hints for the analysis (columns, tables)

    def to_hash(self) -> dict[str, str]:
        return {
            "id": self.id,
            "owner": self.owner,
            "questionnaire_id": self.questionnaire_id,
            "filename": self.filename,
            "format": self.format.value,
            "size": str(self.size),
            "uploaded_at": repr(self.uploaded_at),
            "state": self.state.value,
            "job_id": self.job_id or "",
            "text": self.text or "",
            "pages": "" if self.pages is None else str(self.pages),
            "words": "" if self.words is None else str(self.words),
            "layout": json.dumps(self.layout),
        }

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> Resume:
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        return cls(
            id=h["id"],
            owner=h["owner"],
            questionnaire_id=h["questionnaire_id"],
            filename=h["filename"],
            format=ResumeFormat(h["format"]),
            size=int(h["size"]),
            uploaded_at=float(h["uploaded_at"]),
            state=ResumeState(h["state"]),
            job_id=h.get("job_id") or None,
            text=h.get("text") or None,
            pages=int(h["pages"]) if h.get("pages") else None,
            words=int(h["words"]) if h.get("words") else None,
            layout=json.loads(h.get("layout") or "{}"),
        )


def sort_key(questionnaire_id: str, submitted_at: float) -> str:
    return f"{_SORT_MAX - int(submitted_at * 1_000_000):017d}:{questionnaire_id}"


class Pipeline(Protocol):
    """The commands we queue; redis-py's sync and asyncio pipelines both have them."""

    def hset(self, name: str, key: Any = None, value: Any = None, mapping: Any = None) -> Any: ...
    def zadd(self, name: str, mapping: Any) -> Any: ...
    def zrem(self, name: str, *values: Any) -> Any: ...
    def set(self, name: str, value: Any) -> Any: ...
    def delete(self, *names: str) -> Any: ...


def save_questionnaire(pipe: Pipeline, keys: Keys, questionnaire: Questionnaire) -> None:
    pipe.hset(keys.questionnaire(questionnaire.id), mapping=questionnaire.to_hash())
    pipe.zadd(keys.user_questionnaires(questionnaire.owner), {questionnaire.sort_key: 0})


def save_resume(pipe: Pipeline, keys: Keys, resume: Resume, content: bytes | None = None) -> None:
    pipe.hset(keys.resume(resume.id), mapping=resume.to_hash())
    if content is not None:
        pipe.set(keys.resume_file(resume.id), content)
