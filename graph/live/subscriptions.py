"""Live streams: over WebSocket (graphql-transport-ws), or over HTTP as multipart (Apollo Client)
or server-sent events (graphql-sse, urql) for clients without WebSocket (graph/live/http_streams.py).
The same resolvers serve every transport, so their checks and their order are the same."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.domain import validation
from graph.domain.mirror import build
from graph.domain.types import JobEvent
from graph.live.job_stream import job_events
from graph.live.listener import RESYNC
from jobs.core import events


def job_updates_stream(
    context: Context, job_id: str, after_seq: int | None
) -> AsyncGenerator[events.JobEvent, None]:
    """The events of `jobUpdates`; shared by the resolver below and the compiled fast path
    (graph/live/compiled_subscription.py), so both check input and ownership the same way."""
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
            yield build(JobEvent, event)

    @strawberry.subscription(
        description="All your jobs at once (a dashboard): the latest event of each unfinished job "
        "first, then every live event of any of your jobs; if the server's event stream reconnects, "
        "the latest event of each job again. It never completes; follow one job with jobUpdates "
        "to replay every event."
    )
    async def my_job_updates(self, info: Info[Context, None]) -> AsyncGenerator[JobEvent, None]:
        services = info.context.services
        owner = info.context.user_id
        async with services.listener.subscribe(services.keys.user_channel(owner)) as inbox:
            # Registered first, then read: an event published in between is in both, and the
            # per-job seq tells which copy to skip.
            seen: dict[str, int] = {}
            while True:
                for latest in await services.store.latest_of(owner, seen):
                    if latest.seq > seen.get(latest.job_id, 0):
                        seen[latest.job_id] = latest.seq
                        yield build(JobEvent, latest)
                # Live events until the listener reconnects (RESYNC): then every job known here
                # or unfinished is read again, so none is left showing a state it has left.
                while (live := await inbox.next()) is not RESYNC:
                    if live.seq > seen.get(live.job_id, 0):
                        seen[live.job_id] = live.seq
                        yield build(JobEvent, live)
