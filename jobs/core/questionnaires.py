"""Questionnaires: the job a user targets, and the CV they upload for it.

Shapes and Redis commands shared by the API (asyncio) and the workers (sync). Writes are built
on a pipeline passed in, so both kinds of client queue the same commands and only the final
`execute()` differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from jobs.core.hashes import from_hash, to_hash
from jobs.core.names import Keys
from jobs.core.storage import DROP_LUA, counter_key

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
        # The fields lie flat in the hash, beside the rest.
        return {**to_hash(self.fields), **to_hash(self, exclude=("fields",))}

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> Questionnaire:
        return from_hash(cls, raw, fields=from_hash(QuestionnaireFields, raw))

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
        return to_hash(self)

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> Resume:
        return from_hash(cls, raw)


def sort_key(questionnaire_id: str, submitted_at: float) -> str:
    return f"{_SORT_MAX - int(submitted_at * 1_000_000):017d}:{questionnaire_id}"


class Pipeline(Protocol):
    """The commands we queue; redis-py's sync and asyncio pipelines both have them."""

    def hset(self, name: str, key: Any = None, value: Any = None, mapping: Any = None) -> Any: ...
    def zadd(self, name: str, mapping: Any) -> Any: ...
    def zrem(self, name: str, *values: Any) -> Any: ...
    def set(self, name: str, value: Any) -> Any: ...
    def delete(self, *names: str) -> Any: ...


class ScriptPipeline(Protocol):
    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any: ...


def save_questionnaire(pipe: Pipeline, keys: Keys, questionnaire: Questionnaire) -> None:
    pipe.hset(keys.questionnaire(questionnaire.id), mapping=questionnaire.to_hash())
    pipe.zadd(keys.user_questionnaires(questionnaire.owner), {questionnaire.sort_key: 0})


def save_resume(pipe: Pipeline, keys: Keys, resume: Resume, content: bytes | None = None) -> None:
    pipe.hset(keys.resume(resume.id), mapping=resume.to_hash())
    if content is not None:
        pipe.set(keys.resume_file(resume.id), content)


def drop_resume_file(pipe: ScriptPipeline, keys: Keys, owner: str, resume_id: str) -> None:
    """Delete an upload's bytes and give them back to the owner's STORAGE quota; whoever deletes
    them first gives them back, the others find nothing to give."""
    pipe.eval(DROP_LUA, 2, keys.resume_file(resume_id), counter_key(keys, owner))
