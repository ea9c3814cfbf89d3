"""exportMyData: an EXPORT job that packs everything we hold about the caller (jobs/work/export_data.py),
and the download of what it made, served to its owner only, like a PDF."""

from __future__ import annotations

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info

from graph.context import Context, Services
from graph.domain import validation
from graph.domain.downloads import attachment, caller, not_found
from graph.domain.launch import start_job
from graph.domain.mirror import build
from graph.domain.types import Job
from jobs.core.errors import InvalidInput, NotFound, RateLimited
from jobs.core.names import JobKind, JobState
from jobs.core.quotas import Charge, Period, Quota, utcnow

# Not a plan quota (jobs/core/quotas.py): the same small allowance on every plan, since what it
# bounds is the work of the deployment (a scan of every key), not a feature a plan sells.
EXPORT_SCOPE = "EXPORTS"
DAILY = Quota(Period.DAY, {}, "data exports a day")


def download_path(job_id: str) -> str:
    return f"/downloads/export/{job_id}"


@strawberry.type(description="A data export on its way: follow `job`; once it succeeds, GET `downloadUrl`.")
class DataExport:
    job: Job
    download_url: str = strawberry.field(
        description="Where the zip is served to you (with your bearer token) once the job succeeded, "
        "until it expires (EXPORT_TTL_SECONDS after)."
    )


@strawberry.type
class ExportMutation:
    @strawberry.mutation(
        description="Start an EXPORT job: every record we hold about you (questionnaires, uploads and "
        "their text, jobs and their events, responses, analyses, PDFs, quota counters) as one JSON "
        "document in a zip, with your uploaded files and PDFs beside it."
    )
    async def export_my_data(self, info: Info[Context, None]) -> DataExport | None:
        services, user = info.context.services, info.context.user_or_raise
        record = await start_job(
            services, JobKind.EXPORT, user, {}, extra_charges=[_daily_export(services, user.id)]
        )
        return DataExport(job=build(Job, record), download_url=download_path(record.id))


def _daily_export(services: Services, owner: str) -> Charge:
    label, reset_at = DAILY.window(utcnow())
    limit = services.settings.exports_per_day

    def refusal(used: int) -> RateLimited:
        return RateLimited(
            f"you may export your data {limit} times a day; the limit resets at {reset_at.isoformat()}",
            scope=EXPORT_SCOPE,
            limit=limit,
            used=used,
            remaining=max(0, limit - used),
            resetAt=reset_at.isoformat(),
        )

    key = services.keys.quota(EXPORT_SCOPE, owner, label)
    return Charge(key, limit, 1, int(reset_at.timestamp()) + 86_400, refusal)


async def download_export(request: Request) -> Response:
    """GET /downloads/export/{id} with the owner's bearer token: the zip. Without a valid token 401;
    another user's export, one not finished and one expired answer alike, 404 (C7)."""
    services: Services = request.state.services
    user = caller(request)
    if isinstance(user, Response):
        return user
    try:
        job_id = validation.job_id(request.path_params["job_id"])
        record = await services.store.get(job_id)
    except (InvalidInput, NotFound):
        record = None
    content = None
    if (
        record
        and record.owner == user.id
        and record.kind is JobKind.EXPORT
        and record.state is JobState.SUCCEEDED
    ):
        content = await services.redis.get(services.keys.export_file(record.id))
    if content is None:
        return not_found("no such export")
    return attachment(content, "application/zip", f"cvimprover-export-{job_id[:8]}.zip")
