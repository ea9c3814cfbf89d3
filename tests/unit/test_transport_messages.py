"""graphql-transport-ws frame validation (graph/live/transport_messages.py), graphql-ws's own rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph.live.transport_messages import InvalidMessage, check_message, read_message

LIMIT = 64


def _frame(value: Any) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": json.dumps(value)}


@pytest.mark.parametrize(
    "message",
    [
        {"type": "connection_init"},
        {"type": "connection_init", "payload": {"token": "t"}},
        {"type": "connection_init", "payload": None},
        {"type": "ping"},
        {"type": "pong", "payload": {}},
        {"type": "subscribe", "id": "1", "payload": {"query": "{a}"}},
        {"type": "subscribe", "id": "1", "payload": {"query": "{a}", "operationName": None, "variables": {}}},
        {"type": "complete", "id": "1"},
    ],
)
def test_valid_messages_come_back_as_sent(message):
    assert read_message(_frame(message), 4096) == message


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ({"bytes": b"{}"}, "WebSocket message type must be text"),
        ({"text": "x" * (LIMIT + 1)}, f"message too large (limit {LIMIT} bytes)"),
        ({"text": "é" * (LIMIT // 2 + 1)}, f"message too large (limit {LIMIT} bytes)"),  # bytes, not chars
        ({"text": "{not json"}, "WebSocket message must be valid JSON"),
    ],
)
def test_frames_refused_before_their_shape_is_read(frame, reason):
    with pytest.raises(InvalidMessage) as refused:
        read_message(frame, LIMIT)
    assert refused.value.reason == reason


def test_json_nested_past_the_parser_is_invalid_json_not_a_crash():
    with pytest.raises(InvalidMessage, match="valid JSON"):
        read_message({"text": "[" * 100_000}, 200_000)


def test_a_frame_at_the_limit_in_bytes_is_read():
    text = json.dumps({"type": "ping", "payload": {"k": "é" * 20}})
    assert read_message({"text": text}, len(text.encode())) == json.loads(text)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ([], "a message must be a JSON object, got an array"),
        ({"type": 1}, "a message's 'type' must be a string, got a number"),
        ({}, "a message's 'type' must be a string, got null"),
        ({"type": "next", "id": "1"}, 'unexpected message type "next"'),
        ({"type": "connection_ack"}, 'unexpected message type "connection_ack"'),
        ({"type": "ping", "payload": []}, "'ping' payload must be an object or null, got an array"),
        ({"type": "complete"}, "'complete' needs an 'id' that is a string, got null"),
        ({"type": "complete", "id": ""}, "'complete' needs a non-empty 'id'"),
        (
            {"type": "subscribe", "id": 1, "payload": {}},
            "'subscribe' needs an 'id' that is a string, got a number",
        ),
        ({"type": "subscribe", "id": "1"}, "'subscribe' payload must be an object, got null"),
        (
            {"type": "subscribe", "id": "1", "payload": {}},
            "'subscribe' payload's 'query' must be a string, got null",
        ),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": "{a}", "operationName": True}},
            "'operationName' must be a string or null, got a boolean",
        ),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": "{a}", "variables": "x"}},
            "'variables' must be an object or null, got a string",
        ),
        (
            {"type": "subscribe", "id": "1", "payload": {"query": "{a}", "extensions": [1]}},
            "'extensions' must be an object or null, got an array",
        ),
    ],
)
def test_shapes_refused_with_the_reason_graphql_ws_gives(message, reason):
    with pytest.raises(InvalidMessage) as refused:
        check_message(message)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "payload",
    [{"documentId": "sha256:abc"}, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}}],
)
def test_a_persisted_document_named_without_its_query_reads_as_an_empty_query(payload):
    message = check_message({"type": "subscribe", "id": "1", "payload": payload})
    assert message["payload"]["query"] == ""


def test_a_document_id_that_is_not_text_names_nothing():
    with pytest.raises(InvalidMessage, match="'query' must be a string"):
        check_message({"type": "subscribe", "id": "1", "payload": {"documentId": 7}})
