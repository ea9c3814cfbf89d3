"""graphql-transport-ws, with `jobUpdates` subscriptions served from compiled plans.

Strawberry's handler keeps everything about the protocol (connection_init, ping/pong, ids,
limits, complete); only running an operation changes: a document the compiler accepts streams
pre-rendered JSON (graph/compiled_subscription.py), any other goes through Strawberry as usual.
"""

from __future__ import annotations

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
    NextMessage,
    NextMessagePayload,
)

from graph.compiled_subscription import JobUpdatesPlan, next_message
from graph.context import Context
from graph.errors import stream_error
from graph.subscriptions import job_updates_stream


class TransportHandler(BaseGraphQLTransportWSHandler[Context, None]):
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
        try:
            stream = job_updates_stream(self.context, arguments["jobId"], arguments.get("afterSeq"))
            async with aclosing(stream):
                async for event in stream:
                    if operation.completed:
                        return
                    await adapter.ws.send_text(next_message(operation.id, plan.payload(event)))
        except WebSocketDisconnect:
            return
        except Exception as e:
            # As Strawberry ends a subscription whose source raised: one `next` carrying the
            # error, then `complete`.
            payload: NextMessagePayload = {"data": None, "errors": [stream_error(e)]}
            await operation.send_operation_message(NextMessage(id=operation.id, type="next", payload=payload))
        await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
