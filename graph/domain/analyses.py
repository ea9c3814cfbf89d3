"""The offline analysis: start an ANALYZE_CV job, read an analysis."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.domain import validation
from graph.domain.analysis_types import CvAnalysis
from graph.domain.launch import start_job
from graph.domain.mirror import build
from graph.domain.resumes import extracted_resume, no_cv_text
from graph.domain.types import Job
from jobs.core.names import JobKind


@strawberry.type
class AnalysisQuery:
    @strawberry.field(description="An analysis of yours.")
    async def analysis(self, info: Info[Context, None], id: strawberry.ID) -> CvAnalysis:
        analysis_id = validation.object_id(id, "id", "analysis")
        return build(CvAnalysis, await info.context.services.cv.analysis(info.context.user_id, analysis_id))


@strawberry.type
class AnalysisMutation:
    @strawberry.mutation(
        description="Analyse the questionnaire's extracted CV (or cvText) against its position and job "
        "description, offline. Returns the ANALYZE_CV job; its `analysis` holds the result."
    )
    async def analyze_cv(
        self, info: Info[Context, None], questionnaire_id: strawberry.ID, cv_text: str | None = None
    ) -> Job | None:
        services, owner = info.context.services, info.context.user_id
        questionnaire = await services.cv.questionnaire(
            owner, validation.object_id(questionnaire_id, "questionnaireId", "questionnaire")
        )
        resume = None if cv_text is not None else await extracted_resume(info.context, questionnaire)
        if resume is not None:
            text = resume.text
        elif cv_text is not None:
            text = validation.text("cvText", cv_text, services.settings.cv_text_max_chars, required=True)
        else:
            raise no_cv_text()
        source = {
            "cv_text": text,
            "position": questionnaire.fields.position,
            "job_description": questionnaire.fields.job_description,
            "pages": resume.pages if resume else None,
            "layout": resume.layout if resume else {},
        }
        job_input = {"questionnaire_id": questionnaire.id, "source": source}
        record = await start_job(services, JobKind.ANALYZE_CV, info.context.user_or_raise, job_input)
        return build(Job, record)
