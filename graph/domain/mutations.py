"""Entry points that change jobs: each slow one writes a job record, then enqueues it (C1)."""

from __future__ import annotations

from dataclasses import replace

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.domain import validation
from graph.domain.access import owned_job
from graph.domain.account import erase_account
from graph.domain.launch import start_job
from graph.domain.mirror import build
from graph.domain.resumes import extracted_resume, no_cv_text
from graph.domain.types import ImproveCvInput, Job
from jobs.core import deletes
from jobs.core.errors import JobActive
from jobs.core.names import JobKind
from jobs.core.quotas import Scope
from jobs.engines import ImproveRequest


async def _improve_request(context: Context, input: ImproveCvInput) -> ImproveRequest:
    """The job's input, fixed when the job is created: later edits of the questionnaire do not
    change a job already queued."""
    services = context.services
    if input.questionnaire_id is None:
        return validation.improve_request(
            services.settings, input.cv_text, input.position, input.job_description, input.prompt
        )
    questionnaire = await services.cv.questionnaire(
        context.user_id, validation.object_id(input.questionnaire_id, "questionnaireId", "questionnaire")
    )
    cv_text = input.cv_text
    if cv_text is None and (resume := await extracted_resume(context, questionnaire)):
        cv_text = resume.text
    fields = questionnaire.fields
    request = validation.improve_request(
        services.settings,
        cv_text,
        input.position or fields.position,
        input.job_description or fields.job_description,
        input.prompt,
        no_cv_text(),
    )
    return replace(
        request,
        questionnaire_id=questionnaire.id,
        industry=fields.industry,
        experience_level=fields.experience_level.value,
        company_size=fields.company_size.value,
        location=fields.location,
        application_timeline=fields.application_timeline.value,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Rewrite a CV for a target position. Returns the queued job "
        "at once; follow it with the jobUpdates subscription."
    )
    async def improve_cv(self, info: Info[Context, None], input: ImproveCvInput) -> Job | None:
        request = await _improve_request(info.context, input)
        context = info.context
        record = await start_job(
            context.services,
            JobKind.IMPROVE_CV,
            context.user_or_raise,
            request.as_dict(),
            Scope.AI_IMPROVEMENTS,
        )
        return build(Job, record)

    @strawberry.mutation(
        description="Delete a finished job of yours: its record and events, and what it made that "
        "belongs to no questionnaire (those go with their questionnaire). A response goes with the "
        "PDFs rendered from it and the RENDER_PDF jobs that made them. Returns the deleted id."
    )
    async def delete_job(self, info: Info[Context, None], id: strawberry.ID) -> strawberry.ID | None:
        record = await owned_job(info.context, validation.job_id(id))
        if not record.state.terminal:
            raise JobActive(f"job {record.id} is {record.state.value}; cancel it first")
        await info.context.services.store.delete(record.owner, [deletes.job_root(record.id)])
        return strawberry.ID(record.id)

    @strawberry.mutation(
        description="Erase everything we hold about you: your unfinished jobs are cancelled, then "
        "every questionnaire, upload, job, event, response, analysis and PDF of yours is deleted, on "
        "every replica; your open streams end with ACCOUNT_ERASED. Returns how many jobs were erased."
    )
    async def delete_my_data(self, info: Info[Context, None]) -> int | None:
        return await erase_account(info.context.services, info.context.user_or_raise.id)

    @strawberry.mutation(description="Cancel a queued or running job; its worker stops generating.")
    async def cancel_job(self, info: Info[Context, None], id: strawberry.ID) -> Job | None:
        job_id = validation.job_id(id)
        await owned_job(info.context, job_id)
        await info.context.services.store.cancel(job_id)
        return build(Job, await info.context.services.store.get(job_id))
