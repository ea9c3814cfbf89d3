"""`/healthz`: this process answers (its event loop turns). Nothing else: a liveness probe that
asked Redis would have an orchestrator restart every replica while Redis is away, which fixes
nothing; whether the process can serve is `/readyz` (graph/ops/readiness.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})
