"""The Strawberry-tutorial pattern, as a competent developer writes it: a peer for bench/compare.py.

Each `jobUpdates` subscription opens its own Redis pub/sub connection on the job's channel (the one
our workers publish on, `Keys.job_channel`), reads the job's record once Redis has confirmed the
subscription (so no event falls between the snapshot and the stream), sends that state first, then
forwards every event until the job finishes. The caller's token is verified on connection_init and
only the job's owner may subscribe, as in the project. Nothing here is shipped (bench/ only); it runs
under uvicorn as `uvicorn tutorial:app` from this directory, configured by the project's settings
(REDIS_URL, KEY_PREFIX, JWT_SECRET).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import strawberry
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import Info

from graph.edges.auth import TokenVerifier
from jobs.core.errors import Unauthenticated
from jobs.core.events import JobEvent as StoredEvent
from jobs.core.names import Keys
from jobs.core.records import JobRecord
from settings import get_settings

settings = get_settings()
keys = Keys(settings.key_prefix)
verifier = TokenVerifier(settings)
# One connection per subscription: the pool must hold as many as there are subscribers (redis-py's
# default of 100 refuses the 101st subscription with "Too many connections").
redis = Redis.from_url(settings.redis_url, max_connections=1_000_000)


@strawberry.type
class JobEvent:
    job_id: strawberry.ID
    seq: int
    type: str
    state: str
    progress: int
    stage: str | None
    message: str | None
    delta: str | None
    at: datetime


def from_stored(event: StoredEvent) -> JobEvent:
    return JobEvent(
        job_id=strawberry.ID(event.job_id),
        seq=event.seq,
        type=event.type.value,
        state=event.state.value,
        progress=event.progress,
        stage=event.stage,
        message=event.message,
        delta=event.delta,
        at=datetime.fromtimestamp(event.at, UTC),
    )


def from_record(record: JobRecord) -> JobEvent:
    return JobEvent(
        job_id=strawberry.ID(record.id),
        seq=record.seq,
        type="SNAPSHOT",
        state=record.state.value,
        progress=record.progress,
        stage=record.stage,
        message=record.message,
        delta=None,
        at=datetime.fromtimestamp(record.updated_at, UTC),
    )


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def job_updates(self, info: Info, job_id: strawberry.ID) -> AsyncGenerator[JobEvent, None]:
        pubsub = redis.pubsub()  # the pattern: a connection of its own for every subscription
        await pubsub.subscribe(keys.job_channel(job_id))
        try:
            # subscribe() only sends SUBSCRIBE; the record is read on another connection, which Redis may
            # serve first, so an event published in between would be in neither. Its confirmation says
            # the channel is Redis's before the read.
            while (await pubsub.get_message(timeout=None) or {}).get("type") != "subscribe":
                pass
            raw = await redis.hgetall(keys.job(job_id))
            if not raw:
                raise ValueError("no such job")
            record = JobRecord.from_hash(raw)
            if record.owner != info.context["user"].id:
                raise PermissionError("not your job")
            yield from_record(record)
            if record.state.terminal:
                return
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                event = StoredEvent.from_json(message["data"])
                if event.seq <= record.seq:
                    continue  # already in the snapshot
                yield from_stored(event)
                if event.state.terminal:
                    return
        finally:
            await pubsub.aclose()


class TutorialGraphQL(GraphQL[dict[str, Any], None]):
    async def on_ws_connect(self, context: dict[str, Any]) -> None:
        params = context.get("connection_params") or {}
        try:
            context["user"] = verifier.user(params.get("authorization"))
        except Unauthenticated as e:
            raise ConnectionRejectionError() from e


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


graphql = TutorialGraphQL(
    strawberry.Schema(query=Query, subscription=Subscription),
    subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
)
app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
    ]
)
