"""Owner-only downloads (PDFs, exports): the caller from the bearer token, and the answers every
download gives alike (401 without a valid token; 404 for another user's file as for a missing one,
C7; the file as a private attachment)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graph.context import Services
from graph.edges.auth import User
from jobs.core.errors import Unauthenticated


def caller(request: Request) -> User | Response:
    """The token's user, or the 401 to answer."""
    services: Services = request.state.services
    try:
        return services.verifier.user(request.headers.get("authorization"))
    except Unauthenticated as e:
        return JSONResponse({"error": {"code": e.code, "message": e.message}}, status_code=401)


def not_found(message: str) -> Response:
    return JSONResponse({"error": {"code": "NOT_FOUND", "message": message}}, status_code=404)


def attachment(content: bytes | str, media_type: str, filename: str) -> Response:
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type=media_type, headers=headers)
