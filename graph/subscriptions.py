"""Live streams over WebSocket (graphql-transport-ws)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graph import validation
from graph.context import Context
from graph.job_stream import job_events
from graph.listener import RESYNC
from graph.types import JobEvent, event_from
from jobs import events


def job_updates_stream(
    context: Context, job_id: str, after_seq: int | None
) -> AsyncGenerator[events.JobEvent, None]:
    """The events of `jobUpdates`; shared by the resolver below and the compiled fast path
    (graph/compiled_subscription.py), so both check input and ownership the same way."""
    services = context.services
    return job_events(
        services.listener,
        services.store,
        services.keys,
        validation.job_id(job_id, "jobId"),
        context.user_id,
        validation.after_seq(after_seq),
    )


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
        async for event in job_updates_stream(info.context, job_id, after_seq):
            yield event_from(event)

    @strawberry.subscription(
        description="Every live event of all your jobs, as they happen (a dashboard). Unlike "
        "jobUpdates it replays nothing and never completes; follow one job with jobUpdates to "
        "miss nothing."
    )
    async def my_job_updates(self, info: Info[Context, None]) -> AsyncGenerator[JobEvent, None]:
        services = info.context.services
        channel = services.keys.user_channel(info.context.user_id)
        async with services.listener.subscribe(channel) as inbox:
            while True:
                # RESYNC (the listener reconnected) has no log to re-read here: carry on live.
                if (event := await inbox.next()) is not RESYNC:
                    yield event_from(event)
