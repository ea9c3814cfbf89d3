"""Subscriptions over HTTP, for clients without WebSocket.

Two of Strawberry's transports, chosen by the request's `Accept`:
- multipart (Apollo Client's HttpLink: `multipart/mixed;boundary="graphql";subscriptionSpec=1.0`):
  each event is a part `{"payload": {...}}`, a heartbeat is an empty part `{}`;
- SSE (graphql-sse's distinct-connections mode, urql's `fetchSubscriptions`): `event: next`
  and `event: complete`, a heartbeat is the comment `: ping`, lines ending in LF. Chosen only when the client
  prefers `text/event-stream` to JSON: urql lists it (after the JSON types) on every query too,
  and a query asked that way is answered as plain JSON.

Either way the operation runs through `Schema.stream`, the path WebSocket operations take, so
tokens, ownership, snapshot first, `afterSeq` replay and the end after the terminal event are the
same code. What HTTP adds here (`guarded`): each stream takes a place in its user's cap of open
connections, the one WebSockets use (MAX_WEBSOCKETS_PER_USER, graph/live/sockets.py); it ends when its
token expires, as a socket closes; and a stream whose client went away ends at once, which frees
its listener subscription (Starlette cancels the response when the peer disconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from graphql import GraphQLError
from redis.exceptions import RedisError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.streaming import JSONEncoder
from strawberry.types.execution import ExecutionResult, SubscriptionExecutionResult

from graph.context import Context
from graph.edges.auth import User
from graph.edges.response_media import GRAPHQL_RESPONSE_JSON, JSON, preferred
from graph.live import live_metrics
from graph.live.draining import Draining
from graph.live.sockets import SocketLease
from graph.strawberry_private import MultipartSubscriptionTransport, PreExecutionError, SSETransport
from jobs.core.errors import ServiceError, Unauthenticated, Unavailable
from settings import get_settings

TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
EVENT_STREAM = "text/event-stream"

# Starts as Strawberry's own message did ("subscriptions are not allowed ..."), then says how.
HOW_TO_SUBSCRIBE = (
    "subscriptions are not allowed in a plain request: stream one over HTTP with "
    "`Accept: text/event-stream` (graphql-sse, urql's fetchSubscriptions) or "
    '`Accept: multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json` '
    "(Apollo Client's HttpLink), or subscribe over WebSocket (graphql-transport-ws)"
)


# An HTTP stream's frame is measured as written when it is encoded: in the task that runs the
# operation (graph/live/live_metrics.py), one frame ahead at most of the response's own write.
class MultipartStream(MultipartSubscriptionTransport):
    def __init__(self) -> None:
        super().__init__()
        self.heartbeat_interval = get_settings().http_stream_heartbeat_seconds

    def encode_next(self, response: GraphQLHTTPResponse, encode_json: JSONEncoder) -> str:
        frame = super().encode_next(response, encode_json)
        live_metrics.written(live_metrics.HTTP)
        return frame


class SseStream(SSETransport):
    def __init__(self) -> None:
        super().__init__(get_settings().http_stream_heartbeat_seconds)

    def accepts(self, accept: str) -> bool:
        return preferred(accept, (GRAPHQL_RESPONSE_JSON, JSON, EVENT_STREAM)) == EVENT_STREAM

    def encode_next(self, response: GraphQLHTTPResponse, encode_json: JSONEncoder) -> str:
        frame = super().encode_next(response, encode_json)
        live_metrics.written(live_metrics.HTTP)
        return frame

    # Lines end with LF, as graphql-sse's own server writes them: urql splits events on "\n\n"
    # only, and never sees one in Strawberry's CRLF (which the SSE standard allows too).
    def encode_event(self, event: str, data: str | None = None) -> str:
        return super().encode_event(event, data).replace("\r\n", "\n")

    def encode_comment(self, comment: str) -> str:
        return f": {comment}\n\n"


def guarded(context: Context, results: SubscriptionExecutionResult) -> SubscriptionExecutionResult:
    """`results` (a streamed operation's), bounded by the caller's connection cap and token.

    Without a caller nothing is held: the operation itself answers UNAUTHENTICATED (or runs, if
    it needs no caller)."""
    # Schema.stream's results are an async generator (closed when the stream ends early).
    return cast(SubscriptionExecutionResult, _guarded(context, cast(AsyncGenerator[Any, None], results)))


async def _guarded(context: Context, results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    async with contextlib.aclosing(results):
        user = context.user
        if user is None:
            async for result in results:
                yield result
            return
        async with _place_of(context, user) as refusal:
            if refusal is not None:
                error = GraphQLError(refusal.message, original_error=refusal)
                yield PreExecutionError(data=None, errors=[error])
                return
            services = context.services
            leeway = services.settings.jwt_leeway_seconds
            # One HTTP stream is one connection carrying one subscription.
            with (
                live_metrics.OPEN_CONNECTIONS.labels(live_metrics.HTTP).track_inprogress(),
                live_metrics.LIVE_SUBSCRIPTIONS.labels(live_metrics.HTTP).track_inprogress(),
            ):
                async for result in _until_expiry(results, user, leeway, services.draining):
                    yield result


@contextlib.asynccontextmanager
async def _place_of(context: Context, user: User) -> AsyncIterator[ServiceError | None]:
    """The stream's place among its user's open connections, held while it lasts; or why not."""
    services = context.services
    lease = SocketLease(services.redis, services.keys, user.id)
    limit = services.settings.max_websockets_per_user
    try:
        acquired = await lease.acquire(limit)
    except (RedisError, OSError):
        yield Unavailable("a backing service is unavailable; try again shortly")
        return
    if not acquired:
        message = f"too many open connections for this user (limit {limit}): close a stream or a socket"
        yield ServiceError(message, code=TOO_MANY_CONNECTIONS, limit=limit)
        return
    try:
        yield None
    finally:
        await lease.release()


async def _until_expiry(
    results: AsyncGenerator[Any, None], user: User, leeway: float, draining: Draining
) -> AsyncGenerator[Any, None]:
    """`results` until the token that opened the stream expires (with the leeway HTTP grants),
    then one UNAUTHENTICATED error, as a socket is closed with 4403; or until the process
    stops (graph/live/draining.py), then one SERVICE_UNAVAILABLE error, as a socket is closed with
    1012."""
    deadline = None
    if user.expires_at is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (user.expires_at + leeway - time.time())
    while True:
        # Around each wait alone: a timeout must never land in the consumer's code, which runs
        # in this task between two results.
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                with draining.cuts(timeout):
                    result = await anext(results)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if not timeout.expired():
                raise
            yield _final_error(draining)
            return
        yield result


def _final_error(draining: Draining) -> ExecutionResult:
    ending: ServiceError
    if draining.started:
        ending = Unavailable("the server is restarting: subscribe again (with afterSeq to miss nothing)")
    else:
        ending = Unauthenticated("token expired: subscribe again with a fresh token (and afterSeq)")
    return ExecutionResult(data=None, errors=[GraphQLError(ending.message, original_error=ending)])
