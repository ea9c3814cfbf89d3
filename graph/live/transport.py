"""graphql-transport-ws to the letter of its PROTOCOL.md, with `jobUpdates` subscriptions served
from compiled plans.

Strawberry's handler keeps ping/pong, the init timeout (4408), `complete` and the general
execution of operations. What changes:
- every frame is checked before any handler sees it (graph/live/transport_messages.py): an invalid
  message closes the socket with 4400 and a reason, never an exception that drops it (1006) or
  a subscribe that is never answered;
- `connection_init` authenticates (graph/edges/view.py: 4403), then takes the socket's place in the
  per-user cap (4429) and only then acknowledges;
- a document that fails to parse or validate is an `error` message for its id: the socket and
  its other operations go on;
- once the socket is gone, what operations still send is dropped, not raised: the socket's
  end (shutdown) cancels them, and an error per late message would only fill the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import aclosing
from typing import Any, Protocol, cast

from graphql import GraphQLError
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    Message,
    NextMessage,
    NextMessagePayload,
    SubscribeMessage,
    SubscribeMessagePayload,
)
from strawberry.types.unset import UnsetType

from graph.bounds.persisted_documents import PERSISTED_DOCUMENTS
from graph.context import Context
from graph.errors import stream_error
from graph.live import live_metrics
from graph.live.compiled_subscription import JobUpdatesPlan, SubscriptionCompiler, next_message_head
from graph.live.keepalive import Keepalive
from graph.live.listener import Watcher
from graph.live.sockets import SocketLease
from graph.live.subscriptions import job_updates_stream
from graph.live.transport_messages import InvalidMessage, read_message
from graph.strawberry_private import PreExecutionError, starlette_socket
from jobs.core.deletes import AccountErased
from jobs.core.errors import ServiceError

# A close frame's reason is at most 123 bytes (RFC 6455 5.5.1); a longer one would break the
# close itself.
MAX_CLOSE_REASON_BYTES = 123



class _CompilingView(Protocol):
    """The view this handler serves (graph/edges/view.py): it owns the process's plan cache."""

    compiler: SubscriptionCompiler

class TransportHandler(BaseGraphQLTransportWSHandler[Context, None]):
    # An idle socket's cost is what it holds (issue 13: memory per idle socket): its timers are
    # loop timer handles and a place on the process's keepalive clock, not a task each.
    _lease: SocketLease | None = None
    _init_timer: asyncio.TimerHandle | None = None
    _expiry: asyncio.TimerHandle | None = None
    _erasure: Watcher | None = None
    _closing: asyncio.Task[None] | None = None
    _keepalive: Keepalive | None = None

    @property
    def _socket(self) -> WebSocket:
        # Frames are read and a compiled `next` is written below Strawberry's adapter
        # (graph/strawberry_private.py says why).
        return starlette_socket(self.websocket)

    def _open(self) -> bool:
        socket = self._socket
        return (
            socket.application_state == WebSocketState.CONNECTED
            and socket.client_state == WebSocketState.CONNECTED
        )

    def on_request_accepted(self) -> None:
        # Strawberry starts a task that sleeps through the init timeout; a timer does the same.
        delay = self.connection_init_wait_timeout.total_seconds()
        self._init_timer = asyncio.get_running_loop().call_later(delay, self._init_timed_out)

    def _init_timed_out(self) -> None:
        if not self.connection_init_received:
            self.connection_timed_out = True
            self._close_soon(4408, "Connection initialisation timeout")

    def _close_soon(self, code: int, reason: str) -> None:
        """Close from a callback (a timer, the erasure channel): once, in a task of its own."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason))

    async def handle(self) -> None:
        self.on_request_accepted()
        try:
            with live_metrics.OPEN_CONNECTIONS.labels(live_metrics.WEBSOCKET).track_inprogress():
                while (message := await self._next_message()) is not None:
                    await self.handle_message(message)
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    async def _next_message(self) -> Message | None:
        """The next valid message; None once the socket is closed, by either side."""
        if not self._open():
            return None
        try:
            frame = await self._socket.receive()
        except WebSocketDisconnect:
            return None
        if frame["type"] == "websocket.disconnect":
            return None
        try:
            message = read_message(frame, self.context.services.settings.ws_max_message_bytes)
            if self._keepalive is not None:
                self._keepalive.heard()
            return message
        except InvalidMessage as e:
            await self.handle_invalid_message(e.reason)
            return None

    async def handle_invalid_message(self, error_message: str) -> None:
        await self._close(4400, error_message)

    async def _close(self, code: int, reason: str) -> None:
        if self._socket.application_state == WebSocketState.DISCONNECTED:
            return
        encoded = reason.encode()
        if len(encoded) > MAX_CLOSE_REASON_BYTES:
            reason = encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."
        with contextlib.suppress(WebSocketDisconnect):
            await self._socket.close(code=code, reason=reason)

    async def send_message(self, message: Message) -> None:
        if not self._open():
            return
        with contextlib.suppress(WebSocketDisconnected):
            await super().send_message(message)
            if message["type"] == "next":
                live_metrics.written(live_metrics.WEBSOCKET)

    async def _send_text(self, text: str) -> None:
        if not self._open():
            return
        with contextlib.suppress(WebSocketDisconnect):
            await self._socket.send_text(text)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_timed_out:
            return
        if self._init_timer is not None:
            self._init_timer.cancel()
        if self.connection_init_received:
            await self._close(4429, "Too many initialisation requests")
            return
        self.connection_init_received = True
        # The payload is optional and may be null: then there is simply no token (4403).
        self.context.connection_params = message.get("payload") or {}
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as e:
            reason = e.payload.get("reason")
            await self._close(4403, reason if isinstance(reason, str) else "Forbidden")
            return
        finally:
            # Read once, to authenticate: an idle socket does not keep its token and whatever
            # else the client put in the payload (up to WS_MAX_MESSAGE_BYTES).
            self.context.connection_params = {}
        if not await self._take_place():
            return
        if isinstance(ack_payload, UnsetType):
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True
        self._keepalive = self.context.services.keepalive.join(
            lambda: self.send_message({"type": "ping"}), self._close
        )

    async def _take_place(self) -> bool:
        """The socket's place in its user's cap, taken before the ack so that a socket over the
        cap is never acknowledged; and a timer that closes it when its token expires."""
        user = self.context.user
        if user is None:
            return True
        services = self.context.services
        lease = SocketLease(services.redis, services.keys, user.id)
        limit = services.settings.max_websockets_per_user
        try:
            acquired = await lease.acquire(limit)
        except (RedisError, OSError):
            # Not the client's fault, and worth trying again: not a 44xx, which clients take as final.
            await self._close(1011, "a backing service is unavailable; try again shortly")
            return False
        if not acquired:
            await self._close(4429, f"too many open connections for this user (limit {limit})")
            return False
        self._lease = lease
        # A channel of its own, silent until then: the user's events do not come here twice.
        erased_channel = services.keys.user_erased_channel(user.id)
        self._erasure = services.listener.watch(erased_channel, self._close_on_erasure)
        if user.expires_at is not None:
            # The leeway HTTP grants (graph/edges/auth.py): the token stays good until exp + leeway.
            closes_at = user.expires_at + services.settings.jwt_leeway_seconds
            # A timer: the socket must not outlive the token that opened it.
            self._expiry = asyncio.get_running_loop().call_later(
                max(0.0, closes_at - time.time()), self._close_soon, 4403, "token expired"
            )
        return True

    def _close_on_erasure(self, error: ServiceError) -> None:
        """The socket must not outlive its account: when its user's data is erased (deleteMyData,
        on any replica) it closes, as their subscriptions end with ACCOUNT_ERASED."""
        if isinstance(error, AccountErased):
            self._close_soon(4403, "your data was erased (deleteMyData)")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged:
            await self._close(4401, "Unauthorized")
            return
        operation_id = message["id"]
        if operation_id in self.operations:
            await self._close(4409, f"Subscriber for {operation_id} already exists")
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:
            error = GraphQLError(
                f"too many operations at once on this socket (limit {limit})",
                extensions={"code": "RATE_LIMITED", "limit": limit},
            )
            await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})
            return
        payload = message["payload"]
        operation = Operation(
            self, operation_id, payload["query"], payload.get("variables"), payload.get("operationName")
        )
        operation.task = asyncio.create_task(self._admit_and_run(operation, payload))
        operation.task.add_done_callback(self._task_done)
        self.operations[operation_id] = operation

    async def _admit_and_run(
        self, operation: Operation[Context, None], payload: SubscribeMessagePayload
    ) -> None:
        """The operation, once its document is settled as over HTTP (graph/bounds/persisted_documents.py):
        a persisted one named by `extensions.persistedQuery` or `documentId`, or a text that
        PERSISTED_DOCUMENTS=only must know. Checked here, before the compiled path, which skips
        the schema's own admission: no transport runs a document `only` refuses."""
        document_id = cast(dict[str, object], payload).get("documentId")
        try:
            admitted = await PERSISTED_DOCUMENTS.admit(
                operation.query,
                payload.get("extensions"),
                document_id if isinstance(document_id, str) else None,
                self.context.services,
            )
        except GraphQLError as refusal:
            await operation.send_initial_errors([refusal])
            return
        operation.query = admitted.query or ""
        await self.run_operation(operation)

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.pop(operation_id, None)
        if operation is None:
            return
        # Nothing more goes out for it, whatever its task still does before the cancellation
        # lands (or after one was swallowed: see graph/live/listener.py, _honour_cancellation).
        operation.completed = True
        assert operation.task is not None
        operation.task.cancel()

    async def shutdown(self) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
        if self._expiry is not None:
            self._expiry.cancel()
        if self._erasure is not None:
            self.context.services.listener.unwatch(self._erasure)
        if self._keepalive is not None:
            self._keepalive.stop()
        try:
            await super().shutdown()
        finally:
            if self._lease is not None:
                await self._lease.release()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if not operation.query:
            # Strawberry treats "" as a missing query, an unexpected error; it is a document
            # that does not parse, like any other.
            error = GraphQLError("Syntax Error: the document is empty.", extensions=_PARSE_FAILED)
            await operation.send_initial_errors([error])
            return
        compiler = cast(_CompilingView, self.view).compiler
        plan = compiler.plan(operation.query, operation.operation_name)
        arguments = plan.arguments(self.schema, operation.variables) if plan is not None else None  # type: ignore[arg-type]
        with live_metrics.LIVE_SUBSCRIPTIONS.labels(live_metrics.WEBSOCKET).track_inprogress():
            if plan is None or arguments is None:
                compiler.general_runs += 1
                await super().run_operation(operation)
                return
            compiler.compiled_runs += 1
            await self._run_compiled(operation, plan, arguments)

    async def _handle_pre_execution_error(
        self, operation: Operation[Context, None], result: PreExecutionError
    ) -> None:
        # A private hook (pinned in graph/strawberry_private.py, TRANSPORT_HANDLER_METHODS).
        # Strawberry closes the whole socket (4400) on a syntax error or an unknown operation
        # name, ending every other operation on it; the protocol's `error` message answers
        # for this operation alone.
        assert result.errors
        await operation.send_initial_errors(result.errors)

    async def _run_compiled(
        self, operation: Operation[Context, None], plan: JobUpdatesPlan, arguments: dict[str, Any]
    ) -> None:
        head = next_message_head(operation.id)
        try:
            stream = job_updates_stream(self.context, arguments["jobId"], arguments.get("afterSeq"))
            async with aclosing(stream):
                async for event in stream:
                    if operation.completed:
                        return
                    await self._send_text(head + plan.payload(event) + "}")
                    live_metrics.written(live_metrics.WEBSOCKET)
        except Exception as e:
            # As Strawberry ends a subscription whose source raised: one `next` carrying the
            # error, then `complete`.
            payload: NextMessagePayload = {"data": None, "errors": [stream_error(e)]}
            await operation.send_operation_message(NextMessage(id=operation.id, type="next", payload=payload))
        await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))


_PARSE_FAILED = {"code": "GRAPHQL_PARSE_FAILED"}
