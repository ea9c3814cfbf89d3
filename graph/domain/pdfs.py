"""Rendering a response as a PDF (a job), and serving the PDF to its owner only."""

from __future__ import annotations

import strawberry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.types import Info

from graph.context import Context, Services
from graph.domain import validation
from graph.domain.launch import start_job
from graph.domain.mirror import build
from graph.domain.types import Job
from jobs.core.errors import InvalidInput, NotFound, Unauthenticated
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
    try:
        user = services.verifier.user(request.headers.get("authorization"))
    except Unauthenticated as e:
        return JSONResponse({"error": {"code": e.code, "message": e.message}}, status_code=401)
    try:
        pdf_id = validation.object_id(request.path_params["pdf_id"], "id", "PDF")
        pdf, content = await services.cv.pdf_content(user.id, pdf_id)
    except (InvalidInput, NotFound):
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "no such PDF"}}, status_code=404)
    headers = {
        "Content-Disposition": f'attachment; filename="cv-{pdf.id[:8]}.pdf"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type="application/pdf", headers=headers)
