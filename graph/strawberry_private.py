"""Every use of a Strawberry internal that has no public twin, in one place.

Strawberry's public API (strawberry.Schema and its documented methods, the extensions, the views)
covers the rest of graph/. What is here is not part of it and may change in any release; each
entry is pinned by tests/unit/test_strawberry_private.py, which fails with the Strawberry version
named when an upgrade changes one, and pyproject.toml pins strawberry-graphql to the minor range
those tests passed with (TESTED_MINOR).

- `graphql_schema`: the graphql-core schema Strawberry built (`Schema._schema`). The compiled
  subscription path (graph/live/compiled_subscription.py) coerces variables and reads the root field
  with graphql-core, against exactly the schema Strawberry executes.
- `validation_errors`: Strawberry's own document validation (`strawberry.schema.schema.
  validate_document`): graphql-core's `validate` plus Strawberry's private rules (Maybe, @oneOf);
  a plan must refuse exactly the documents Strawberry refuses.
- `starlette_socket`: the Starlette WebSocket under Strawberry's ASGI adapter
  (`ASGIWebSocketAdapter.ws`). graph/live/transport.py reads frames itself (to bound and check each one
  before Strawberry parses it) and sends a compiled `next` message as text made once and shared
  by every subscriber; the adapter's public `send_json` would encode it again per subscriber.
- `PreExecutionError` and `StreamResult`: the result Strawberry gives for a document refused before
  execution (how its transports tell a refusal from a result; graph/schema.py returns one for
  its own refusals), and the type of what `Schema.stream` yields; neither is exported.
- `MultipartSubscriptionTransport`, `SSETransport`: Strawberry's HTTP stream transports, which
  graph/live/http_streams.py subclasses for our heartbeat interval and SSE's LF line ends
  (`encode_event`, `encode_comment`, `heartbeat_interval`).
- `BaseRequestProtocol`: the request type `should_render_graphql_ide` takes (graph/edges/view.py).
- `get_graphql_ide_html`: Strawberry's GraphiQL page, which graph/edges/graphiql.py serves with
  local assets.
- `to_camel_case`: Strawberry's field-name conversion, so our errors name fields as the schema does.
- TRANSPORT_HANDLER_*, TRANSPORT_OPERATION_*: the methods and attributes of Strawberry's
  graphql-transport-ws handler and its Operation that graph/live/transport.py overrides, calls or
  sets (its protocol fixes are overrides: the handler has no other seam).
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.ides import get_graphql_ide_html
from strawberry.http.streaming import MultipartSubscriptionTransport, SSETransport
from strawberry.schema.schema import StreamResult, validate_document
from strawberry.types.execution import PreExecutionError
from strawberry.utils.str_converters import to_camel_case

__all__ = [
    "TESTED_MINOR",
    "BaseRequestProtocol",
    "MultipartSubscriptionTransport",
    "PreExecutionError",
    "SSETransport",
    "StreamResult",
    "get_graphql_ide_html",
    "graphql_schema",
    "starlette_socket",
    "to_camel_case",
    "validation_errors",
]

# The strawberry-graphql minor versions the unit tests passed with: pyproject.toml's range.
TESTED_MINOR = "0.341"

# graph/live/transport.py's TransportHandler relies on these of BaseGraphQLTransportWSHandler (methods
# it overrides or calls; attributes it reads or sets), and these of its Operation.
TRANSPORT_HANDLER_METHODS = (
    "handle",
    "handle_message",
    "handle_invalid_message",
    "send_message",
    "handle_connection_init",
    "handle_subscribe",
    "cleanup_operation",
    "shutdown",
    "run_operation",
    "on_request_accepted",
    "_handle_pre_execution_error",
)
TRANSPORT_HANDLER_ATTRIBUTES = (
    "connection_timed_out",
    "connection_init_timeout_task",
    "connection_init_received",
    "connection_acknowledged",
    "operations",
    "max_subscriptions_per_connection",
    "context",
    "view",
    "websocket",
    "schema",
)
TRANSPORT_OPERATION_METHODS = ("send_initial_errors", "send_operation_message", "send_next")
TRANSPORT_OPERATION_ATTRIBUTES = ("id", "query", "variables", "operation_name", "completed", "task")


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema `schema` executes with."""
    built = schema._schema
    if not isinstance(built, GraphQLSchema):  # pragma: no cover - only after an upgrade changed it
        raise TypeError(f"strawberry.Schema._schema is a {type(built).__name__}, not a GraphQLSchema")
    return built


def validation_errors(
    schema: strawberry.Schema, document: DocumentNode, rules: Sequence[type[ASTValidationRule]]
) -> list[GraphQLError]:
    """The errors Strawberry's own validation finds in `document` with `rules` (its private
    rules are added to them)."""
    return validate_document(graphql_schema(schema), document, tuple(rules))


def starlette_socket(adapter: AsyncWebSocketAdapter) -> WebSocket:
    """The Starlette WebSocket behind the handler's adapter (graph/edges/view.py serves ASGI only)."""
    if not isinstance(adapter, ASGIWebSocketAdapter):  # pragma: no cover - another integration
        raise TypeError(f"expected Strawberry's ASGI WebSocket adapter, got {type(adapter).__name__}")
    return adapter.ws
