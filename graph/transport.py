"""graphql-transport-ws, with `jobUpdates` subscriptions served from compiled plans.

Strawberry's handler keeps everything about the protocol (connection_init, ping/pong, ids,
limits, complete); only running an operation changes: a document the compiler accepts streams
pre-rendered JSON (graph/compiled_subscription.py), any other goes through Strawberry as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import aclosing
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    NextMessage,
    NextMessagePayload,
)

from graph.compiled_subscription import JobUpdatesPlan, next_message_head
from graph.context import Context
from graph.errors import stream_error
from graph.sockets import SocketLease
from graph.subscriptions import job_updates_stream


class TransportHandler(BaseGraphQLTransportWSHandler[Context, None]):
    _lease: SocketLease | None = None
    _expiry: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        # Authentication happens in the view's on_ws_connect (4403 without a valid token).
        await super().handle_connection_init(message)
        user = self.context.user
        if not self.connection_acknowledged or user is None or self._lease is not None:
            return
        services = self.context.services
        self._lease = SocketLease(services.redis, services.keys, user.id)
        limit = services.settings.max_websockets_per_user
        if not await self._lease.acquire(limit):
            self._lease = None
            await self.websocket.close(
                code=4429, reason=f"too many open connections for this user (limit {limit})"
            )
            return
        if user.expires_at is not None:
            self._expiry = asyncio.create_task(self._close_at(user.expires_at))

    async def _close_at(self, expires_at: float) -> None:
        # A timer: the socket must not outlive the token that opened it.
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        with contextlib.suppress(Exception):
            await self.websocket.close(code=4403, reason="token expired")

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._lease is not None:
            await self._lease.release()
        await super().shutdown()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        compiler = self.context.services.compiler
        plan = compiler.plan(operation.query, operation.operation_name)
        arguments = plan.arguments(self.schema, operation.variables) if plan is not None else None  # type: ignore[arg-type]
        if plan is None or arguments is None:
            compiler.general_runs += 1
            await super().run_operation(operation)
            return
        compiler.compiled_runs += 1
        await self._run_compiled(operation, plan, arguments)

    async def _run_compiled(
        self, operation: Operation[Context, None], plan: JobUpdatesPlan, arguments: dict[str, Any]
    ) -> None:
        adapter = self.websocket
        assert isinstance(adapter, ASGIWebSocketAdapter)
        head = next_message_head(operation.id)
        try:
            stream = job_updates_stream(self.context, arguments["jobId"], arguments.get("afterSeq"))
            async with aclosing(stream):
                async for event in stream:
                    if operation.completed:
                        return
                    await adapter.ws.send_text(head + plan.payload(event) + "}")
        except WebSocketDisconnect:
            return
        except Exception as e:
            # As Strawberry ends a subscription whose source raised: one `next` carrying the
            # error, then `complete`.
            payload: NextMessagePayload = {"data": None, "errors": [stream_error(e)]}
            await operation.send_operation_message(NextMessage(id=operation.id, type="next", payload=payload))
        await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
