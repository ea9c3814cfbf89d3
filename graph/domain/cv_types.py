"""GraphQL types of the CV domain: questionnaires, uploaded CVs, AI responses and PDFs, and
their construction from the shared shapes in `jobs/`."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graph.bounds.read_budget import spend
from graph.context import Context
from graph.domain.analysis_types import CvAnalysis
from graph.domain.mirror import build, mirror
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


@mirror(
    questionnaires.Resume,
    description="An uploaded CV and, once extracted, its text.",
    fields=(
        "id",
        "filename",
        "format",
        "size_bytes",
        "uploaded_at",
        "state",
        "extraction_job_id",
        "text",
        "pages",
        "words",
    ),
    rename={"size": "size_bytes", "job_id": "extraction_job_id"},
)
class Resume:
    text = strawberry.field(description="The extracted text (EXTRACTED only).")


@mirror(outputs.Usage)
class Usage:
    pass


@mirror(outputs.Claim, description="A number, employer or job title in a rewrite that the source CV lacks.")
class Claim:
    pass


@mirror(
    outputs.PdfFile,
    description="A PDF rendered from an AI response; download it from `url`.",
    fields=("id", "url", "size_bytes", "pages", "created_at"),
    rename={"size": "size_bytes"},
)
class PdfFile:
    id: strawberry.ID

    @strawberry.field(description="Served by the API to the owner only.")
    def url(self) -> str:
        return outputs.download_path(self.id)


@mirror(
    outputs.AIResponse,
    description="A rewritten CV, in Markdown.",
    fields=(
        "id",
        "text",
        "created_at",
        "model",
        "usage",
        "unverified_claims",
        "truncated",
        "advice",
        "job_id",
        "pdfs",
        "questionnaire",
    ),
)
class AIResponse:
    id: strawberry.ID
    questionnaire_id: strawberry.Private[str | None]
    usage = strawberry.field(description="Tokens, as the model reported them.")
    unverified_claims = strawberry.field(
        description="What the rewrite states that the source CV does not: check before sending."
    )
    truncated = strawberry.field(
        description="The rewrite may be incomplete: the model's output limit cut it short, its stream "
        "ended without saying it was complete, or it exceeded the stored size (the job's final "
        "message says which)."
    )
    advice = strawberry.field(
        description="Advice for the candidate (gaps to fill, terms to add where true), kept apart from "
        "the rewrite: never in `text`, never in its PDF."
    )

    @strawberry.field(description="PDFs rendered from this response, newest first.")
    async def pdfs(self, info: Info[Context, None]) -> list[PdfFile]:
        owner, loaders = info.context.user_id, info.context.loaders
        found = await loaders.listed(loaders.keys.response_pdfs(str(self.id)), loaders.pdfs, owner, spend)
        return [build(PdfFile, p) for p in found]

    @strawberry.field
    async def questionnaire(self, info: Info[Context, None]) -> Questionnaire | None:
        if self.questionnaire_id is None:
            return None
        spend(1)
        found = await info.context.loaders.questionnaires.load((info.context.user_id, self.questionnaire_id))
        return build(Questionnaire, found)


@mirror(
    questionnaires.Questionnaire,
    description="The job a user targets, and what was made for it.",
    fields=(
        "id",
        "position",
        "industry",
        "experience_level",
        "company_size",
        "location",
        "application_timeline",
        "job_description",
        "submitted_at",
        "updated_at",
        "resume",
        "responses",
        "analyses",
    ),
    flatten=("fields",),
)
class Questionnaire:
    id: strawberry.ID
    resume_id: strawberry.Private[str | None]

    @strawberry.field(description="The uploaded CV, if any.")
    async def resume(self, info: Info[Context, None]) -> Resume | None:
        if self.resume_id is None:
            return None
        spend(1)
        return build(Resume, await info.context.loaders.resumes.load((info.context.user_id, self.resume_id)))

    @strawberry.field(description="AI responses made for this questionnaire, newest first.")
    async def responses(self, info: Info[Context, None]) -> list[AIResponse]:
        owner, loaders = info.context.user_id, info.context.loaders
        responses = loaders.keys.questionnaire_responses(str(self.id))
        found = await loaders.listed(responses, loaders.responses, owner, spend)
        return [build(AIResponse, r) for r in found]

    @strawberry.field(description="Analyses of its CV, newest first.")
    async def analyses(self, info: Info[Context, None]) -> list[CvAnalysis]:
        owner, loaders = info.context.user_id, info.context.loaders
        analyses = loaders.keys.questionnaire_analyses(str(self.id))
        found = await loaders.listed(analyses, loaders.analyses, owner, spend)
        return [build(CvAnalysis, a) for a in found]


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
