"""Rendering a response as a PDF (a job), and serving the PDF to its owner only."""

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
from jobs.core.errors import InvalidInput, NotFound
from jobs.core.names import JobKind


@strawberry.type
class PdfMutation:
    @strawberry.mutation(
        description="Render an AI response of yours as an A4 PDF. Returns the RENDER_PDF job; its "
        "`pdf.url` is where to download the file."
    )
    async def render_cv_pdf(self, info: Info[Context, None], response_id: strawberry.ID) -> Job | None:
        services, owner = info.context.services, info.context.user_id
        response = await services.cv.response(
            owner, validation.object_id(response_id, "responseId", "response")
        )
        record = await start_job(
            services, JobKind.RENDER_PDF, info.context.user_or_raise, {"response_id": response.id}
        )
        return build(Job, record)


async def download_pdf(request: Request) -> Response:
    """GET /downloads/pdf/{id} with the owner's bearer token: the file. Without a valid token 401;
    another user's PDF answers exactly like a missing one, 404 (C7)."""
    services: Services = request.state.services
    user = caller(request)
    if isinstance(user, Response):
        return user
    try:
        pdf_id = validation.object_id(request.path_params["pdf_id"], "id", "PDF")
        pdf, content = await services.cv.pdf_content(user.id, pdf_id)
    except (InvalidInput, NotFound):
        return not_found("no such PDF")
    return attachment(content, "application/pdf", f"cv-{pdf.id[:8]}.pdf")
