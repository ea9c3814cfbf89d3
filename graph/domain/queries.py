"""Read-only entry points."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.domain import validation
from graph.domain.access import owned_job
from graph.domain.mirror import build
from graph.domain.types import Job


@strawberry.type
class Query:
    @strawberry.field(description="A job of yours, at any time.")
    async def job(self, info: Info[Context, None], id: strawberry.ID) -> Job:
        return build(Job, await owned_job(info.context, validation.job_id(id)))
