"""The GraphQL types, and their construction from the shared job shapes in `jobs/`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from graph.bounds.read_budget import spend
from graph.context import Context
from graph.domain.analysis_types import CvAnalysis, analysis_of
from graph.domain.cv_types import AIResponse, PdfFile, Resume
from jobs.core import events, records
from jobs.core.names import EventType, JobKind, JobState

Stored = TypeVar("Stored")
Shown = TypeVar("Shown")

JobStateEnum = strawberry.enum(JobState, name="JobState", description="Where a job is in its life.")
JobKindEnum = strawberry.enum(JobKind, name="JobKind")
EventTypeEnum = strawberry.enum(EventType, name="JobEventType", description="What an event reports.")


@strawberry.type(description="Why a job failed, or why it is being retried.")
class JobError:
    code: str
    message: str


@strawberry.type
class JobResult:
    text: str = strawberry.field(description="The rewritten CV, in Markdown.")
    model: str


@strawberry.type(description="A unit of slow work, run by a worker.")
class Job:
    id: strawberry.ID
    kind: JobKind
    state: JobState
    seq: int = strawberry.field(description="Sequence number of the job's latest event.")
    progress: int = strawberry.field(description="0..100")
    stage: str | None
    message: str | None
    attempts: int = strawberry.field(description="How many times a worker has started the job.")
    created_at: datetime
    updated_at: datetime
    result: JobResult | None
    error: JobError | None
    outputs: strawberry.Private[dict[str, Any]]

    async def _linked(
        self,
        info: Info[Context, None],
        key: str,
        load: Callable[[str, str], Awaitable[Stored]],
        wrap: Callable[[Stored], Shown],
    ) -> Shown | None:
        """What the job stored under `key` in its result, read as its owner."""
        object_id = self.outputs.get(key)
        if object_id is None:
            return None
        spend(1)
        return wrap(await load(info.context.user_id, object_id))

    @strawberry.field(description="The AI response an IMPROVE_CV job stored.")
    async def response(self, info: Info[Context, None]) -> AIResponse | None:
        return await self._linked(info, "response_id", info.context.services.cv.response, AIResponse.of)

    @strawberry.field(
        description="The analysis an ANALYZE_CV job made (and the one an IMPROVE_CV job starts with)."
    )
    async def analysis(self, info: Info[Context, None]) -> CvAnalysis | None:
        return await self._linked(info, "analysis_id", info.context.services.cv.analysis, analysis_of)

    @strawberry.field(description="The PDF a RENDER_PDF job made.")
    async def pdf(self, info: Info[Context, None]) -> PdfFile | None:
        return await self._linked(info, "pdf_id", info.context.services.cv.pdf, PdfFile.of)

    @strawberry.field(description="The CV an EXTRACT_RESUME job read.")
    async def resume(self, info: Info[Context, None]) -> Resume | None:
        return await self._linked(info, "resume_id", info.context.services.cv.resume, Resume.of)


@strawberry.type(description="One change of a job. `seq` rises by exactly 1 per event of a job.")
class JobEvent:
    job_id: strawberry.ID
    seq: int
    type: EventType
    state: JobState
    progress: int
    stage: str | None
    message: str | None
    delta: str | None = strawberry.field(description="A piece of generated text (OUTPUT events).")
    error: JobError | None
    at: datetime


@strawberry.input(
    description="With a questionnaire, position and job description come from it and the CV from its "
    "extracted upload; fields given here win. Without one, cvText and position are required."
)
class ImproveCvInput:
    questionnaire_id: strawberry.ID | None = None
    cv_text: str | None = None
    position: str | None = None
    job_description: str | None = None
    prompt: str | None = strawberry.field(
        default=None, description="Your instruction to the model, 10 to 5,000 characters."
    )


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _error(error: events.ErrorInfo | None) -> JobError | None:
    return JobError(code=error.code, message=error.message) if error else None


def _result(result: dict[str, Any] | None) -> JobResult | None:
    # Only a rewrite has text; other kinds link to what they stored.
    if not result or "text" not in result:
        return None
    return JobResult(text=result["text"], model=result["model"])


def job_from_record(record: records.JobRecord) -> Job:
    return Job(
        id=strawberry.ID(record.id),
        kind=record.kind,
        state=record.state,
        seq=record.seq,
        progress=record.progress,
        stage=record.stage,
        message=record.message,
        attempts=record.attempts,
        created_at=_time(record.created_at),
        updated_at=_time(record.updated_at),
        result=_result(record.result),
        error=_error(record.error),
        outputs=record.result or {},
    )


def event_from(event: events.JobEvent) -> JobEvent:
    return JobEvent(
        job_id=strawberry.ID(event.job_id),
        seq=event.seq,
        type=event.type,
        state=event.state,
        progress=event.progress,
        stage=event.stage,
        message=event.message,
        delta=event.delta,
        error=_error(event.error),
        at=_time(event.at),
    )
