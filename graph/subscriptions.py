"""Live streams over WebSocket (graphql-transport-ws)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graph import validation
from graph.context import Context
from graph.job_stream import job_events
from graph.types import JobEvent, event_from


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="A job's events in seq order: the current state first (or, with afterSeq, "
        "every event after that seq the log still holds), then live ones; completes after the "
        "terminal event."
    )
    async def job_updates(
        self, info: Info[Context, None], job_id: strawberry.ID, after_seq: int | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        services = info.context.services
        stream = job_events(
            services.listener,
            services.store,
            services.keys,
            validation.job_id(job_id, "jobId"),
            info.context.user_id,
            validation.after_seq(after_seq),
        )
        async for event in stream:
            yield event_from(event)
