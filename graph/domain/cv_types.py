"""GraphQL types of the CV domain: questionnaires, uploaded CVs, AI responses and PDFs, and
their construction from the shared shapes in `jobs/`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from graph.bounds.read_budget import spend
from graph.context import Context
from graph.domain.analysis_types import CvAnalysis, analysis_of
from jobs.core import outputs, questionnaires
from jobs.core.questionnaires import (
    ApplicationTimeline,
    CompanySize,
    ExperienceLevel,
    ResumeFormat,
    ResumeState,
)

ExperienceLevelEnum = strawberry.enum(
    ExperienceLevel, name="ExperienceLevel", description="Years of experience: 0-2, 3-5 or 6+."
)
CompanySizeEnum = strawberry.enum(CompanySize, name="CompanySize")
ApplicationTimelineEnum = strawberry.enum(
    ApplicationTimeline,
    name="ApplicationTimeline",
    description="When the user wants to apply: immediately, in 1-3, 3-6 or 6+ months.",
)
ResumeFormatEnum = strawberry.enum(
    ResumeFormat, name="ResumeFormat", description="Decided by the file's bytes, never its name."
)
ResumeStateEnum = strawberry.enum(ResumeState, name="ResumeState")


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@strawberry.type(description="An uploaded CV and, once extracted, its text.")
class Resume:
    id: strawberry.ID
    filename: str
    format: ResumeFormat
    size_bytes: int
    uploaded_at: datetime
    state: ResumeState
    extraction_job_id: strawberry.ID | None
    text: str | None = strawberry.field(description="The extracted text (EXTRACTED only).")
    pages: int | None
    words: int | None

    @classmethod
    def of(cls, resume: questionnaires.Resume) -> Resume:
        return cls(
            id=strawberry.ID(resume.id),
            filename=resume.filename,
            format=resume.format,
            size_bytes=resume.size,
            uploaded_at=_time(resume.uploaded_at),
            state=resume.state,
            extraction_job_id=strawberry.ID(resume.job_id) if resume.job_id else None,
            text=resume.text,
            pages=resume.pages,
            words=resume.words,
        )


@strawberry.type
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@strawberry.type(description="A number, employer or job title in a rewrite that the source CV lacks.")
class Claim:
    kind: str
    text: str


@strawberry.type(description="A PDF rendered from an AI response; download it from `url`.")
class PdfFile:
    id: strawberry.ID
    url: str = strawberry.field(description="Served by the API to the owner only.")
    size_bytes: int
    pages: int
    created_at: datetime

    @classmethod
    def of(cls, pdf: outputs.PdfFile) -> PdfFile:
        return cls(
            id=strawberry.ID(pdf.id),
            url=outputs.download_path(pdf.id),
            size_bytes=pdf.size,
            pages=pdf.pages,
            created_at=_time(pdf.created_at),
        )


@strawberry.type(name="AIResponse", description="A rewritten CV, in Markdown.")
class AIResponse:
    id: strawberry.ID
    text: str
    created_at: datetime
    model: str
    usage: Usage | None = strawberry.field(description="Tokens, as the model reported them.")
    unverified_claims: list[Claim] = strawberry.field(
        description="What the rewrite states that the source CV does not: check before sending."
    )
    truncated: bool = strawberry.field(
        description="The rewrite may be incomplete: the model's output limit cut it short, its stream "
        "ended without saying it was complete, or it exceeded the stored size (the job's final "
        "message says which)."
    )
    advice: list[str] = strawberry.field(
        description="Advice for the candidate (gaps to fill, terms to add where true), kept apart from "
        "the rewrite: never in `text`, never in its PDF."
    )
    job_id: strawberry.ID
    questionnaire_id: strawberry.Private[str | None] = None

    @strawberry.field(description="PDFs rendered from this response, newest first.")
    async def pdfs(self, info: Info[Context, None]) -> list[PdfFile]:
        owner, loaders = info.context.user_id, info.context.loaders
        found = await loaders.listed(loaders.keys.response_pdfs(str(self.id)), loaders.pdfs, owner, spend)
        return [PdfFile.of(p) for p in found]

    @strawberry.field
    async def questionnaire(self, info: Info[Context, None]) -> Questionnaire | None:
        if self.questionnaire_id is None:
            return None
        spend(1)
        found = await info.context.loaders.questionnaires.load((info.context.user_id, self.questionnaire_id))
        return Questionnaire.of(found)

    @classmethod
    def of(cls, response: outputs.AIResponse) -> AIResponse:
        usage = response.usage
        return cls(
            id=strawberry.ID(response.id),
            text=response.text,
            created_at=_time(response.created_at),
            model=response.model,
            usage=Usage(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                total_tokens=usage.total_tokens,
            )
            if usage
            else None,
            unverified_claims=[Claim(kind=c.kind, text=c.text) for c in response.unverified_claims],
            truncated=response.truncated,
            advice=response.advice,
            job_id=strawberry.ID(response.job_id),
            questionnaire_id=response.questionnaire_id,
        )


@strawberry.type(description="The job a user targets, and what was made for it.")
class Questionnaire:
    id: strawberry.ID
    position: str
    industry: str
    experience_level: ExperienceLevel
    company_size: CompanySize
    location: str | None
    application_timeline: ApplicationTimeline
    job_description: str | None
    submitted_at: datetime
    updated_at: datetime
    resume_id: strawberry.Private[str | None]

    @strawberry.field(description="The uploaded CV, if any.")
    async def resume(self, info: Info[Context, None]) -> Resume | None:
        if self.resume_id is None:
            return None
        spend(1)
        return Resume.of(await info.context.loaders.resumes.load((info.context.user_id, self.resume_id)))

    @strawberry.field(description="AI responses made for this questionnaire, newest first.")
    async def responses(self, info: Info[Context, None]) -> list[AIResponse]:
        owner, loaders = info.context.user_id, info.context.loaders
        responses = loaders.keys.questionnaire_responses(str(self.id))
        found = await loaders.listed(responses, loaders.responses, owner, spend)
        return [AIResponse.of(r) for r in found]

    @strawberry.field(description="Analyses of its CV, newest first.")
    async def analyses(self, info: Info[Context, None]) -> list[CvAnalysis]:
        owner, loaders = info.context.user_id, info.context.loaders
        analyses = loaders.keys.questionnaire_analyses(str(self.id))
        found = await loaders.listed(analyses, loaders.analyses, owner, spend)
        return [analysis_of(a) for a in found]

    @classmethod
    def of(cls, q: questionnaires.Questionnaire) -> Questionnaire:
        return cls(
            id=strawberry.ID(q.id),
            **asdict(q.fields),
            submitted_at=_time(q.submitted_at),
            updated_at=_time(q.updated_at),
            resume_id=q.resume_id,
        )


@strawberry.type
class QuestionnaireEdge:
    cursor: str
    node: Questionnaire


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of questionnaires, newest first.")
class QuestionnaireConnection:
    edges: list[QuestionnaireEdge]
    page_info: PageInfo


@strawberry.input
class QuestionnaireInput:
    position: str
    industry: str
    experience_level: ExperienceLevel
    company_size: CompanySize
    application_timeline: ApplicationTimeline
    location: str | None = None
    job_description: str | None = None


@strawberry.input(
    description="Fields to change; omitted fields keep their value, null clears an optional one."
)
class QuestionnaireUpdate:
    position: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    experience_level: ExperienceLevel | None = strawberry.UNSET
    company_size: CompanySize | None = strawberry.UNSET
    application_timeline: ApplicationTimeline | None = strawberry.UNSET
    location: str | None = strawberry.UNSET
    job_description: str | None = strawberry.UNSET
