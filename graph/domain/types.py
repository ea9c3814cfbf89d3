"""The GraphQL types of jobs, mirrored from the shared job shapes in `jobs/core`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from graph.bounds.read_budget import spend
from graph.context import Context
from graph.domain.analysis_types import CvAnalysis
from graph.domain.cv_types import AIResponse, PdfFile, Resume
from graph.domain.mirror import build, mirror
from jobs.core import events, records
from jobs.core.names import EventType, JobKind, JobState

Shown = TypeVar("Shown")

JobStateEnum = strawberry.enum(JobState, name="JobState", description="Where a job is in its life.")
JobKindEnum = strawberry.enum(JobKind, name="JobKind")
EventTypeEnum = strawberry.enum(EventType, name="JobEventType", description="What an event reports.")


@mirror(events.ErrorInfo, description="Why a job failed, or why it is being retried.")
class JobError:
    pass


@strawberry.type
class JobResult:
    text: str = strawberry.field(description="The rewritten CV, in Markdown.")
    model: str


@mirror(
    records.JobRecord,
    description="A unit of slow work, run by a worker.",
    fields=(
        "id",
        "kind",
        "state",
        "seq",
        "progress",
        "stage",
        "message",
        "attempts",
        "created_at",
        "updated_at",
        "result",
        "error",
        "response",
        "analysis",
        "pdf",
        "resume",
    ),
    rename={"result": "outputs"},
)
class Job:
    seq = strawberry.field(description="Sequence number of the job's latest event.")
    progress = strawberry.field(description="0..100")
    attempts = strawberry.field(description="How many times a worker has started the job.")
    # What the job stored, by kind: the text of a rewrite, the ids of what it made.
    outputs: strawberry.Private[dict[str, Any] | None]

    @strawberry.field
    def result(self) -> JobResult | None:
        # Only a rewrite has text; other kinds link to what they stored.
        if not self.outputs or "text" not in self.outputs:
            return None
        return JobResult(text=self.outputs["text"], model=self.outputs["model"])

    async def _linked(
        self,
        info: Info[Context, None],
        key: str,
        load: Callable[[str, str], Awaitable[Any]],
        shown: type[Shown],
    ) -> Shown | None:
        """What the job stored under `key` in its result, read as its owner."""
        object_id = (self.outputs or {}).get(key)
        if object_id is None:
            return None
        spend(1)
        return build(shown, await load(info.context.user_id, object_id))

    @strawberry.field(description="The AI response an IMPROVE_CV job stored.")
    async def response(self, info: Info[Context, None]) -> AIResponse | None:
        return await self._linked(info, "response_id", info.context.services.cv.response, AIResponse)

    @strawberry.field(
        description="The analysis an ANALYZE_CV job made (and the one an IMPROVE_CV job starts with)."
    )
    async def analysis(self, info: Info[Context, None]) -> CvAnalysis | None:
        return await self._linked(info, "analysis_id", info.context.services.cv.analysis, CvAnalysis)

    @strawberry.field(description="The PDF a RENDER_PDF job made.")
    async def pdf(self, info: Info[Context, None]) -> PdfFile | None:
        return await self._linked(info, "pdf_id", info.context.services.cv.pdf, PdfFile)

    @strawberry.field(description="The CV an EXTRACT_RESUME job read.")
    async def resume(self, info: Info[Context, None]) -> Resume | None:
        return await self._linked(info, "resume_id", info.context.services.cv.resume, Resume)


@mirror(
    events.JobEvent,
    description="One change of a job. `seq` rises by exactly 1 per event of a job.",
)
class JobEvent:
    delta = strawberry.field(description="A piece of generated text (OUTPUT events).")


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
