"""Entry points that change jobs: each slow one writes a job record, then enqueues it (C1)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graph import validation
from graph.access import owned_job
from graph.context import Context
from graph.launch import start_job
from graph.types import ImproveCvInput, Job, job_from_record
from jobs.names import JobKind


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Rewrite a CV for a target position. Returns the queued job "
        "at once; follow it with the jobUpdates subscription."
    )
    async def improve_cv(self, info: Info[Context, None], input: ImproveCvInput) -> Job:
        services = info.context.services
        request = validation.improve_request(
            services.settings, input.cv_text, input.position, input.job_description, input.prompt
        )
        record = await start_job(services, JobKind.IMPROVE_CV, info.context.user_id, request.as_dict())
        return job_from_record(record)

    @strawberry.mutation(description="Cancel a queued or running job; its worker stops generating.")
    async def cancel_job(self, info: Info[Context, None], id: strawberry.ID) -> Job:
        job_id = validation.job_id(id)
        await owned_job(info.context, job_id)
        await info.context.services.store.cancel(job_id)
        return job_from_record(await info.context.services.store.get(job_id))
