"""The Strawberry internals graph/strawberry_private.py relies on are still there and behave as
relied on; each failure names the installed Strawberry version, so that an upgrade that changes
one says which, before any process-level test runs."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import MutableMapping
from importlib.metadata import version
from typing import Any, get_args

import pytest
import strawberry
from graphql import GraphQLError, GraphQLSchema, parse, specified_rules
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions import MaskErrors
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import ExecutionResult

from graph import strawberry_private
from graph.schema import schema

INSTALLED = version("strawberry-graphql")


def _upgrade(what: str) -> str:
    return (
        f"strawberry-graphql {INSTALLED} (tested: {strawberry_private.TESTED_MINOR}.x) changed {what}; "
        "see graph/strawberry_private.py"
    )


def test_the_installed_strawberry_is_in_the_tested_minor_range() -> None:
    installed_minor = ".".join(INSTALLED.split(".")[:2])
    assert installed_minor == strawberry_private.TESTED_MINOR, _upgrade("its minor version")


def test_the_graphql_core_schema_is_the_one_strawberry_executes() -> None:
    built = strawberry_private.graphql_schema(schema)
    assert isinstance(built, GraphQLSchema), _upgrade("Schema._schema")
    assert built.subscription_type is not None, _upgrade("Schema._schema")
    assert "jobUpdates" in built.subscription_type.fields, _upgrade("Schema._schema")


def test_validation_refuses_what_strawberry_refuses_and_accepts_the_rest() -> None:
    valid = parse("subscription { jobUpdates(jobId: \"j\") { seq } }")
    invalid = parse("subscription { jobUpdates(jobId: \"j\") { noSuchField } }")
    assert strawberry_private.validation_errors(schema, valid, specified_rules) == [], _upgrade(
        "strawberry.schema.schema.validate_document"
    )
    errors = strawberry_private.validation_errors(schema, invalid, specified_rules)
    assert [e.message for e in errors] == [
        "Cannot query field 'noSuchField' on type 'JobEvent'."
    ], _upgrade("strawberry.schema.schema.validate_document")


def test_the_asgi_adapter_keeps_its_starlette_socket() -> None:
    params = inspect.signature(ASGIWebSocketAdapter.__init__).parameters
    assert list(params) == ["self", "view", "request", "response"], _upgrade("ASGIWebSocketAdapter")
    socket = WebSocket({"type": "websocket", "path": "/", "headers": []}, _never_receive, _never_send)
    adapter = ASGIWebSocketAdapter(None, socket, socket)  # type: ignore[arg-type]
    assert strawberry_private.starlette_socket(adapter) is socket, _upgrade("ASGIWebSocketAdapter.ws")


@pytest.mark.parametrize("name", strawberry_private.TRANSPORT_HANDLER_METHODS)
def test_the_transport_handler_methods_graph_transport_overrides_are_there(name: str) -> None:
    method = getattr(BaseGraphQLTransportWSHandler, name, None)
    assert inspect.iscoroutinefunction(method) or callable(method), _upgrade(
        f"BaseGraphQLTransportWSHandler.{name}"
    )


def test_the_pre_execution_error_hook_takes_the_operation_and_its_result() -> None:
    hook = BaseGraphQLTransportWSHandler._handle_pre_execution_error
    assert list(inspect.signature(hook).parameters) == ["self", "operation", "result"], _upgrade(
        "BaseGraphQLTransportWSHandler._handle_pre_execution_error"
    )


@pytest.mark.parametrize("name", strawberry_private.TRANSPORT_HANDLER_ATTRIBUTES)
def test_the_transport_handler_attributes_graph_transport_uses_are_set(name: str) -> None:
    assert name in _assigned_names(BaseGraphQLTransportWSHandler), _upgrade(
        f"BaseGraphQLTransportWSHandler.{name}"
    )


@pytest.mark.parametrize("name", strawberry_private.TRANSPORT_OPERATION_METHODS)
def test_the_operation_methods_graph_transport_calls_are_there(name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(Operation, name, None)), _upgrade(f"Operation.{name}")


@pytest.mark.parametrize("name", strawberry_private.TRANSPORT_OPERATION_ATTRIBUTES)
def test_the_operation_attributes_graph_transport_uses_are_set(name: str) -> None:
    assert name in _assigned_names(Operation), _upgrade(f"Operation.{name}")


def _assigned_names(cls: type) -> set[str]:
    """Attributes a class declares or assigns to `self` in its source (set in __init__, so not
    visible on the class)."""
    source = inspect.getsource(cls)
    declared = set(getattr(cls, "__annotations__", {})) | set(vars(cls))
    assigned = {line.split("self.", 1)[1].split("=")[0].split(":")[0].strip() for line in source.splitlines()
                if "self." in line and "=" in line.split("self.", 1)[1]}
    return declared | assigned


async def _never_receive() -> MutableMapping[str, Any]:  # pragma: no cover - the socket is not used
    raise AssertionError("not used")


async def _never_send(message: MutableMapping[str, Any]) -> None:  # pragma: no cover - nor here
    raise AssertionError("not used")


def test_a_refusal_before_execution_is_still_an_execution_result_strawberry_streams() -> None:
    refusal = strawberry_private.PreExecutionError(data=None, errors=[])
    assert isinstance(refusal, ExecutionResult), _upgrade("PreExecutionError")
    yielded = get_args(get_args(strawberry_private.StreamResult)[0])
    assert strawberry_private.PreExecutionError in yielded, _upgrade("strawberry.schema.schema.StreamResult")
    assert ExecutionResult in yielded, _upgrade("strawberry.schema.schema.StreamResult")


@strawberry.type
class _Query:
    @strawberry.field
    def boom(self) -> int:
        raise RuntimeError("unexpected")


@pytest.mark.parametrize("document", ["{ boom }", "{ noSuchField }", "{"])
def test_schema_process_errors_sees_every_error_before_mask_errors_does(document: str) -> None:
    # graph/errors.py relies on this order: document codes are given in Schema.process_errors,
    # and ErrorMapping (a MaskErrors) masks what already has them.
    seen: list[str] = []

    class Recording(strawberry.Schema):
        def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
            seen.append("process_errors")
            for error in errors:
                error.extensions = {"code": "TYPED"}

    def should_mask(error: GraphQLError) -> bool:
        seen.append(f"mask {(error.extensions or {}).get('code')}")
        return False

    recording = Recording(query=_Query, extensions=[lambda: MaskErrors(should_mask_error=should_mask)])
    result = asyncio.run(recording.execute(document))
    assert result.errors, document
    assert seen == ["process_errors", "mask TYPED"], _upgrade("the order of process_errors and MaskErrors")


def test_the_http_stream_transports_keep_what_graph_live_http_streams_overrides() -> None:
    sse = strawberry_private.SSETransport()
    event = sse.encode_event("next", "{}")
    assert event == "event: next\r\ndata: {}\r\n\r\n", _upgrade("SSETransport.encode_event")
    assert sse.encode_comment("ping") == ": ping\r\n\r\n", _upgrade("SSETransport.encode_comment")
    multipart = strawberry_private.MultipartSubscriptionTransport()
    assert isinstance(multipart.heartbeat_interval, int | float), _upgrade("the multipart heartbeat_interval")


def test_the_graphiql_page_and_the_field_names_are_strawberrys() -> None:
    page = strawberry_private.get_graphql_ide_html("graphiql")
    assert "graphiql" in page.lower() and "unpkg.com" in page, _upgrade("get_graphql_ide_html")
    assert strawberry_private.to_camel_case("after_seq") == "afterSeq", _upgrade("to_camel_case")
    assert hasattr(strawberry_private.BaseRequestProtocol, "query_params"), _upgrade("BaseRequestProtocol")
