"""What a graphql-transport-ws message from a client must look like before anything acts on it.

The rules are those of graphql-ws's own `validateMessage` (the reference implementation of
PROTOCOL.md): anything else is an "invalid message", which closes the socket with 4400 and a
reason. A frame is checked in order of cost: its kind and size first, then the JSON, then the
shape, so a hostile message costs at most one bounded parse and never reaches the handlers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

# The types a client may send; the server-to-client ones (connection_ack, next, error) are
# refused from a client as graphql-ws's server refuses them.
FROM_CLIENT = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})


class InvalidMessage(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_message(frame: Mapping[str, Any], max_bytes: int) -> Message:
    """The message an ASGI `websocket.receive` frame carries; raises InvalidMessage."""
    text = frame.get("text")
    if not isinstance(text, str):
        raise InvalidMessage("WebSocket message type must be text")
    if _longer_than(text, max_bytes):
        raise InvalidMessage(f"message too large (limit {max_bytes} bytes)")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: nesting deeper than the parser goes
        raise InvalidMessage("WebSocket message must be valid JSON") from e
    return check_message(value)


def check_message(value: object) -> Message:
    if not isinstance(value, dict):
        raise InvalidMessage(f"a message must be a JSON object, got {_kind(value)}")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise InvalidMessage(f"a message's 'type' must be a string, got {_kind(kind)}")
    if kind not in FROM_CLIENT:
        raise InvalidMessage(f"unexpected message type {json.dumps(kind)}")
    if kind == "subscribe":
        _check_id(value, kind)
        payload = value.get("payload")
        if not isinstance(payload, dict):
            raise InvalidMessage(f"'subscribe' payload must be an object, got {_kind(payload)}")
        _check_subscribe_payload(payload)
    elif kind == "complete":
        _check_id(value, kind)
    else:
        _optional_object(value, "payload", f"'{kind}' payload")
    return cast(Message, value)


def _check_subscribe_payload(payload: dict[str, Any]) -> None:
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        raise InvalidMessage(f"'operationName' must be a string or null, got {_kind(name)}")
    _optional_object(payload, "variables", "'variables'")
    _optional_object(payload, "extensions", "'extensions'")
    query = payload.get("query")
    if query is None and _names_a_document(payload):
        # A persisted document sent by id alone (graph/bounds/persisted_documents.py finds its text).
        payload["query"] = ""
    elif not isinstance(query, str):
        raise InvalidMessage(f"'subscribe' payload's 'query' must be a string, got {_kind(query)}")


def _names_a_document(payload: dict[str, Any]) -> bool:
    extensions = payload.get("extensions")
    by_hash = isinstance(extensions, dict) and "persistedQuery" in extensions
    return by_hash or isinstance(payload.get("documentId"), str)


def _check_id(message: dict[str, Any], kind: str) -> None:
    operation_id = message.get("id")
    if not isinstance(operation_id, str):
        raise InvalidMessage(f"'{kind}' needs an 'id' that is a string, got {_kind(operation_id)}")
    if not operation_id:
        raise InvalidMessage(f"'{kind}' needs a non-empty 'id'")


def _optional_object(container: dict[str, Any], key: str, what: str) -> None:
    value = container.get(key)
    if value is not None and not isinstance(value, dict):
        raise InvalidMessage(f"{what} must be an object or null, got {_kind(value)}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _longer_than(text: str, limit: int) -> bool:
    """Whether the text is over `limit` bytes of UTF-8. A character takes 1 to 4 bytes, so the
    bytes are counted only when the number of characters leaves it open."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit
