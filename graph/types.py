"""The GraphQL types, and their construction from the shared job shapes in `jobs/`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from jobs import events, records
from jobs.names import EventType, JobKind, JobState

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


@strawberry.input
class ImproveCvInput:
    cv_text: str
    position: str
    job_description: str | None = None
    prompt: str | None = None


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
