"""Fuzzing over real graphql-transport-ws sockets: one generated operation per socket, or one
message of any shape, and the checks on how the server answered.

A subscription may rightly say nothing at all (myJobUpdates with no job running), so silence is
not a failure; to know when the server has had its say, a sentinel operation on the same socket
follows a finished job (it answers and ends at once). Once the sentinel has ended, the fuzzed
operation is completed by the client and a ping's pong closes the exchange: anything the server
sent for the fuzzed operation before the pong is checked.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.connection import Connection
from websockets.typing import Subprotocol

from tests.support.fuzz import Operation, assert_typed_errors, json_values

PROTOCOL = Subprotocol("graphql-transport-ws")
FUZZED, SENTINEL = "fuzzed", "sentinel"
SENTINEL_QUERY = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq state } }"
# A bound on the server's silence, so that a server that never answers fails the test with the
# exchange so far instead of hanging it. Not a measure of speed.
SILENCE_LIMIT = 15.0
JOB_SILENCE_LIMIT = 60.0


def assert_typed_socket_operation(ws_url: str, operation: Operation, sentinel_job: str, valid: str) -> None:
    """`valid` is the Authorization value the server must accept. One assertion per kind of fault,
    so that Hypothesis reports (and shrinks) each kind separately."""
    init = {"authorization": operation.authorization} if operation.authorization else {}
    with connect(ws_url, subprotocols=[PROTOCOL], open_timeout=SILENCE_LIMIT) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": init}))
        try:
            first = json.loads(ws.recv(SILENCE_LIMIT))
        except ConnectionClosed as closed:
            assert operation.authorization != valid, f"a valid token refused: {_close(closed)}"
            assert closed.rcvd is not None and 4400 <= closed.rcvd.code < 4500 and closed.rcvd.reason, (
                f"connection_init refused without a 44xx close and a reason: {_close(closed)}"
            )
            return
        assert first.get("type") == "connection_ack", first
        try:
            messages = _exchange(ws, operation, sentinel_job)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "socket dropped without a close frame (1006)"
            raise AssertionError(f"socket closed mid-exchange: {_close(closed)}") from None
        except TimeoutError:
            raise AssertionError(f"no answer for {SILENCE_LIMIT}s") from None
    for message in messages:
        kind, payload = message.get("type"), message.get("payload")
        assert kind in {"next", "error", "complete"}, f"not a next, error or complete message: {message}"
        if kind == "next":
            assert isinstance(payload, dict), message
            assert_typed_errors(payload.get("errors") or [])
        if kind == "error":
            assert isinstance(payload, list) and payload, message
            assert_typed_errors(payload)


def _exchange(ws: Connection, operation: Operation, sentinel_job: str) -> list[dict[str, Any]]:
    fuzzed = operation.body()
    ws.send(json.dumps({"id": FUZZED, "type": "subscribe", "payload": fuzzed}))
    sentinel = {"query": SENTINEL_QUERY, "variables": {"j": sentinel_job}}
    ws.send(json.dumps({"id": SENTINEL, "type": "subscribe", "payload": sentinel}))
    messages = _until(ws, lambda m: m.get("id") == SENTINEL and m.get("type") in {"complete", "error"})
    ws.send(json.dumps({"id": FUZZED, "type": "complete"}))
    ws.send(json.dumps({"type": "ping"}))
    messages += _until(ws, lambda m: m.get("type") == "pong")
    return [message for message in messages if message.get("id") == FUZZED]


def _until(ws: Connection, last: Any, silence: float = SILENCE_LIMIT) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        message = json.loads(ws.recv(silence))
        if message.get("type") == "ping":
            ws.send(json.dumps({"type": "pong"}))
            continue
        messages.append(message)
        if last(message):
            return messages


def _close(closed: ConnectionClosed) -> str:
    if closed.rcvd is None:
        return "no close frame (1006)"
    return f"{closed.rcvd.code} {closed.rcvd.reason!r}"


MESSAGE_TYPES = ["connection_init", "connection_ack", "ping", "pong", "subscribe", "next", "error"]
MESSAGE_TYPES += ["complete"]
# Stands for any query over the socket: the fuzz is of the protocol's messages, not of documents.
SOME_QUERIES = ["{ me { id } }", "subscription { myJobUpdates { seq } }", "query { nope }", "{", ""]


def protocol_messages() -> st.SearchStrategy[str | bytes]:
    """Any message a client could send once acknowledged: JSON of any shape, messages of the
    protocol's types with fields of any shape, subscribes with payloads of any shape, non-JSON
    text and binary frames."""
    any_json = json_values()
    typed = st.fixed_dictionaries(
        {"type": st.sampled_from(MESSAGE_TYPES) | st.text(max_size=10)},
        optional={"id": st.text(max_size=8) | any_json, "payload": any_json},
    )
    # Subscribes are mostly well-formed up to one field, so that some reach execution.
    an_id = st.text(min_size=1, max_size=8)
    payload = st.fixed_dictionaries(
        {"query": st.sampled_from(SOME_QUERIES)},
        optional={
            "variables": st.dictionaries(st.text(max_size=8), any_json, max_size=3) | any_json,
            "operationName": st.none() | any_json,
            "extensions": any_json,
        },
    )
    subscribe = st.fixed_dictionaries(
        {"type": st.just("subscribe"), "id": st.one_of(an_id, an_id, an_id, any_json), "payload": payload}
    ) | st.fixed_dictionaries({"type": st.just("subscribe"), "id": an_id | any_json, "payload": any_json})
    return st.one_of(
        st.one_of(any_json, typed, subscribe).map(json.dumps), st.text(max_size=50), st.binary(max_size=50)
    )


def assert_answered_or_closed_typed(ws_url: str, message: str | bytes, authorization: str) -> None:
    """After any message, the socket goes on (a ping sent next gets its pong) or closes with a
    44xx code and a reason; whatever it sends on the way is a protocol message with typed errors."""
    with connect(ws_url, subprotocols=[PROTOCOL], open_timeout=SILENCE_LIMIT) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": authorization}}))
        assert json.loads(ws.recv(SILENCE_LIMIT)).get("type") == "connection_ack"
        try:
            ws.send(message)
            ws.send(json.dumps({"type": "ping"}))
            answers = _until(ws, lambda m: m.get("type") == "pong")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "socket dropped without a close frame (1006)"
            assert 4400 <= closed.rcvd.code < 4500 and closed.rcvd.reason, f"closed with {_close(closed)}"
            return
        except TimeoutError:
            raise AssertionError(f"neither a pong nor a close for {SILENCE_LIMIT}s") from None
    for answer in answers[:-1]:  # the last is the pong
        assert answer.get("type") in {"next", "error", "complete", "pong"}, f"unexpected message: {answer}"
        if answer["type"] == "next":
            assert_typed_errors(answer.get("payload", {}).get("errors") or [])
        if answer["type"] == "error":
            assert_typed_errors(answer.get("payload"))


def last_event(ws_url: str, authorization: str, job_id: str) -> dict[str, Any]:
    """The job's final event, followed over a socket of its own."""
    with connect(ws_url, subprotocols=[PROTOCOL], open_timeout=SILENCE_LIMIT) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": authorization}}))
        assert json.loads(ws.recv(SILENCE_LIMIT)).get("type") == "connection_ack"
        query = "subscription($j: ID!) { jobUpdates(jobId: $j) { jobId seq state error { code message } } }"
        payload = {"query": query, "variables": {"j": job_id}}
        ws.send(json.dumps({"id": "job", "type": "subscribe", "payload": payload}))
        # A job may rightly run for a while without an event: a longer bound than a reply's.
        messages = _until(ws, lambda m: m.get("type") in {"complete", "error"}, silence=JOB_SILENCE_LIMIT)
    assert messages[-1]["type"] == "complete", messages[-1]
    return dict(messages[-2]["payload"]["data"]["jobUpdates"])
