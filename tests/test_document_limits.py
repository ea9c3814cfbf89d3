"""Every document costs bounded work before anything runs (issue 8, point 1), against a real
uvicorn: the cost rule refuses a fragment diamond over HTTP and WebSocket, with or without a
token; tokens and bytes of a document are bounded on every path; JSON bodies are capped while
they are read and stalled bodies are cut; the compiled-plan cache stays within its bytes; and
no error reaches a client without `extensions.code`. Timings are in bench/document_cost.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from graphql import get_introspection_query

from tests.conftest import stack_env
from tests.support.auth import authorization
from tests.support.gql import connection_init, metric, raw_operation
from tests.support.hostile_documents import (
    accepted_documents,
    aliased_introspection,
    diamond,
    refused_documents,
)
from tests.support.processes import LOGS, Api, start_api
from tests.support.raw_http import RawRequest

UNKNOWN = "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"
BODY_LIMIT = 300_000
PLAN_CACHE_LIMIT = 1_000_000
DOCUMENT_CODES = {"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "DOCUMENT_TOO_LARGE"}


@pytest.fixture(scope="module")
async def api(redis_server, workdir) -> AsyncIterator[Api]:
    """An API alone (no worker is needed) with a short body timeout and small caches."""
    env = {
        **stack_env(redis_server.url, "t-doclimits"),
        "HTTP_BODY_TIMEOUT_SECONDS": "1",
        "HTTP_MAX_BODY_BYTES": str(BODY_LIMIT),
        "PLAN_CACHE_MAX_BYTES": str(PLAN_CACHE_LIMIT),
    }
    api = await start_api("t-doclimits-api", env, workdir)
    yield api
    await api.proc.stop()


async def _post(api: Api, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(api.http_url, json=body, headers=authorization(token))
    return response.status_code, response.json()


def _codes(body: dict[str, Any]) -> set[str | None]:
    return {error.get("extensions", {}).get("code") for error in body.get("errors") or []}


@pytest.mark.parametrize("token", [None, ""], ids=["token", "no token"])
async def test_a_fragment_diamond_is_refused_over_http(api, token):
    status, body = await _post(api, {"query": diamond(30)}, token)
    assert status == 200 and body["data"] is None
    assert _codes(body) == {"GRAPHQL_VALIDATION_FAILED"}, body
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(api.http_url, params={"query": diamond(30)}, headers=authorization(token))
    assert _codes(response.json()) == {"GRAPHQL_VALIDATION_FAILED"}


def _errors_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors an operation ended with: an `error` message, or a `next` carrying errors."""
    last = messages[-1] if messages[-1]["type"] == "error" else messages[0]
    payload = last["payload"]
    return payload if isinstance(payload, list) else payload.get("errors") or []


async def test_a_fragment_diamond_is_refused_over_websocket(api):
    on_event = "\n".join(
        ["subscription($j: ID!) { jobUpdates(jobId: $j) { ...F0 } }"]
        + [f"fragment F{i} on JobEvent {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30)]
        + ["fragment F30 on JobEvent { seq }"]
    )
    compiled_before = await metric(api.base_url, "cvi_subscriptions_compiled_total")
    for document in (diamond(30), on_event):
        errors = _errors_of(await raw_operation(api.ws_url, document, {"j": UNKNOWN}))
        assert {e["extensions"]["code"] for e in errors} == {"GRAPHQL_VALIDATION_FAILED"}, errors
    assert await metric(api.base_url, "cvi_subscriptions_compiled_total") == compiled_before


@pytest.mark.parametrize("name", list(refused_documents()))
async def test_the_worst_documents_are_refused_with_a_typed_code(api, name):
    document = refused_documents()[name]
    for token in (None, ""):
        status, body = await _post(api, {"query": document}, token)
        assert status == 200 and body["data"] is None, body
        codes = _codes(body)
        assert codes and codes <= DOCUMENT_CODES, body
    if name == "one byte over the byte limit":
        assert codes == {"DOCUMENT_TOO_LARGE"}
    if name.endswith("past the limit"):
        assert codes == {"GRAPHQL_PARSE_FAILED"}
        assert "tokens" in body["errors"][0]["message"]


async def test_the_worst_documents_the_cost_rule_lets_through_are_answered_with_typed_errors(api):
    for name, document in accepted_documents().items():
        status, body = await _post(api, {"query": document})
        assert status == 200, (name, body)
        assert None not in _codes(body), (name, body)


async def test_documents_over_the_byte_limit_are_refused_on_every_path(redis_server, workdir):
    """On an API with a 1,000-byte limit (uvicorn refuses URLs long before 100 KB): POST, GET,
    and a subscription that the compiled path refuses before parsing. Bytes, not characters."""
    env = {**stack_env(redis_server.url, "t-doclimits-small"), "GRAPHQL_MAX_DOCUMENT_BYTES": "1000"}
    small = await start_api("t-doclimits-small-api", env, workdir)
    try:
        subscription = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq } }"
        # Over in characters; over in bytes only (511 characters, 1,006 bytes).
        for padding in ("#" + "x" * 1000 + "\n", "#" + "é" * 495 + "\n"):
            _, body = await _post(small, {"query": padding + "{ __typename }"})
            assert _codes(body) == {"DOCUMENT_TOO_LARGE"}, body
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.get(small.http_url, params={"query": padding + "{ __typename }"})
            assert _codes(response.json()) == {"DOCUMENT_TOO_LARGE"}
            compiled_before = await metric(small.base_url, "cvi_subscriptions_compiled_total")
            errors = _errors_of(await raw_operation(small.ws_url, padding + subscription, {"j": UNKNOWN}))
            assert {e["extensions"]["code"] for e in errors} == {"DOCUMENT_TOO_LARGE"}
            assert await metric(small.base_url, "cvi_subscriptions_compiled_total") == compiled_before
        # Within the limit, the same documents are answered (the subscription compiled).
        assert (await _post(small, {"query": "#" + "é" * 400 + "\n{ __typename }"}))[1] == {
            "data": {"__typename": "Query"}
        }
        compiled_before = await metric(small.base_url, "cvi_subscriptions_compiled_total")
        errors = _errors_of(await raw_operation(small.ws_url, subscription, {"j": UNKNOWN}))
        assert {e["extensions"]["code"] for e in errors} == {"NOT_FOUND"}
        assert await metric(small.base_url, "cvi_subscriptions_compiled_total") == compiled_before + 1
    finally:
        await small.proc.stop()


async def test_the_token_limit_holds_over_get_too(api):
    document = "{ " + "__typename " * 5_001 + "}"
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(api.http_url, params={"query": document})
    assert _codes(response.json()) == {"GRAPHQL_PARSE_FAILED"}
    assert "5000 tokens" in response.json()["errors"][0]["message"]


async def test_the_plan_cache_stays_within_its_bytes(api):
    """Distinct large documents (only their comments differ) over one socket: each is compiled,
    and the cache evicts to stay within PLAN_CACHE_MAX_BYTES."""
    compiled_before = await metric(api.base_url, "cvi_subscriptions_compiled_total")
    count = 30
    async with websockets.connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(connection_init())
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for i in range(count):
            query = f"# {i} {'x' * 90_000}\nsubscription($j: ID!) {{ jobUpdates(jobId: $j) {{ seq }} }}"
            payload = {"query": query, "variables": {"j": UNKNOWN}}
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": payload}))
            while json.loads(await ws.recv())["type"] != "complete":
                pass
    assert await metric(api.base_url, "cvi_subscriptions_compiled_total") == compiled_before + count
    size = await metric(api.base_url, "cvi_plan_cache_bytes")
    entries = await metric(api.base_url, "cvi_plan_cache_entries")
    assert 0 < size <= PLAN_CACHE_LIMIT
    # Thirty plans of 90 KB documents do not fit: some were evicted.
    assert 0 < entries < count


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed; a reset (our bytes it never read) ends it too."""
    received = b""
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except ConnectionError:
        pass
    return received


async def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_read(api):
    headers = {"Content-Type": "application/json", "Content-Length": str(30 * 1024 * 1024)}
    status, body, after = await RawRequest(api).send(headers, b'{"query": "')
    assert status == 413 and _codes(body) == {"REQUEST_TOO_LARGE"}
    assert after == b""  # and the connection closed


async def test_a_json_body_is_cut_once_it_passes_the_limit(api):
    chunk = b'{"query": "{ __typename }", "variables": {"x": "' + b"y" * (2 * BODY_LIMIT) + b'"}}'
    chunked = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    status, body, _ = await RawRequest(api).send(headers, chunked)
    assert status == 413 and _codes(body) == {"REQUEST_TOO_LARGE"}
    # Just within the limit, the same request is answered.
    status, body = await _post(api, {"query": "{ __typename }", "variables": {"x": "y" * (BODY_LIMIT - 100)}})
    assert status == 200 and body == {"data": {"__typename": "Query"}}


async def test_multipart_bodies_keep_their_own_limit(api):
    """A multipart request larger than HTTP_MAX_BODY_BYTES (files are bounded by UPLOAD_MAX_BYTES)."""
    files = {"0": ("padding.txt", b"z" * (2 * BODY_LIMIT), "text/plain")}
    data = {"operations": json.dumps({"query": "{ __typename }", "variables": {}}), "map": "{}"}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            api.http_url, data=data, files=files, headers={"Apollo-Require-Preflight": "true"}
        )
    assert response.json() == {"data": {"__typename": "Query"}}


FILE_PART = b'--b\r\nContent-Disposition: form-data; name="0"; filename="a"\r\n\r\n'
STALLING = {
    "application/json": b'{"query": "' + b"x" * 500,
    "multipart/form-data; boundary=b": FILE_PART + b"x" * 500,
}


@pytest.mark.parametrize("content_type", list(STALLING))
async def test_a_stalled_body_is_cut(api, content_type):
    headers = {"Content-Type": content_type, "Content-Length": "1000", "Apollo-Require-Preflight": "true"}
    status, body, after = await RawRequest(api).send(headers, STALLING[content_type])
    assert status == 408 and _codes(body) == {"REQUEST_TIMEOUT"}
    assert after == b""


async def test_a_body_trickled_slower_than_the_minimum_rate_is_cut(api):
    # A byte every half second never stalls for the 1 s timeout, but the body has only the
    # timeout plus a second per 500 bytes received: the trickle is cut soon after a second.
    url = urlsplit(api.http_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    writer.write((head + "Content-Length: 100000\r\n\r\n{").encode())
    answer = asyncio.create_task(_read_until_closed(reader))
    sent = 0
    try:
        while not answer.done() and sent < 100:
            writer.write(b" ")
            await writer.drain()
            sent += 1
            # The client's pace, not a wait for an event: a byte every half second.
            await asyncio.wait([answer], timeout=0.5)
        received = await answer
    finally:
        writer.close()
    assert sent < 100  # cut long before the trickle would have ended
    assert received.startswith(b"HTTP/1.1 408") and b"REQUEST_TIMEOUT" in received
    assert b"slower than 500 bytes a second" in received


async def test_a_subscription_over_http_without_a_streaming_accept_is_refused_with_a_code(api):
    # Once INTERNAL with a traceback; streamed subscriptions over HTTP: tests/test_http_subscriptions.py.
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            api.http_url,
            json={"query": "subscription { myJobUpdates { seq } }"},
            headers={"Accept": "application/json", **authorization(None)},
        )
    assert response.status_code == 400 and _codes(response.json()) == {"BAD_REQUEST"}
    assert "subscriptions are not allowed" in response.json()["errors"][0]["message"]


async def test_several_operations_need_an_operation_name(api):
    document = "query A { __typename } query B { me { id } }"
    status, body = await _post(api, {"query": document}, token="")
    assert status == 200 and _codes(body) == {"BAD_REQUEST"}
    assert "operationName" in body["errors"][0]["message"]
    status, body = await _post(api, {"query": document, "operationName": "A"}, token="")
    assert (status, body) == (200, {"data": {"__typename": "Query"}})


async def test_introspection_as_tools_send_it_is_answered_and_multiplied_it_is_refused(api):
    everything = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    status, body = await _post(api, {"query": everything}, token="")
    assert status == 200 and "errors" not in body and body["data"]["__schema"]["types"]
    # Every type's fields, their types' fields and so on, 30 times over: within every bound of
    # the document itself, refused for what it would produce.
    status, body = await _post(api, {"query": aliased_introspection(30)}, token="")
    assert status == 200 and _codes(body) == {"GRAPHQL_VALIDATION_FAILED"} and body.get("data") is None
    assert "introspect once" in body["errors"][0]["message"]


def _nested(depth: int) -> str:
    return '{"query": "{ __typename }", "variables": {"a": ' + "[" * depth + "]" * depth + "}}"


QUERY_JOB = "query($id: ID!) { job(id: $id) { id } }"
BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("invalid JSON", {"content": b'{"query": '}),
    ("a string body", {"content": b'"{ __typename }"'}),
    ("a number body", {"content": b"42"}),
    ("a null body", {"content": b"null"}),
    ("a list body", {"content": b"[]"}),
    ("an empty body", {"content": b""}),
    ("variables nested 100,000 deep", {"content": _nested(100_000).encode()}),
    ("query not a string", {"json": {"query": 5}}),
    ("query null", {"json": {"query": None}}),
    ("an empty query", {"json": {"query": ""}}),
    ("variables not an object", {"json": {"query": "{ __typename }", "variables": [1]}}),
    ("extensions not an object", {"json": {"query": "{ __typename }", "extensions": "x"}}),
    ("an unknown operationName", {"json": {"query": "query A { __typename }", "operationName": "B"}}),
    ("operationName not a string", {"json": {"query": "query A { __typename }", "operationName": {"x": 1}}}),
    ("invalid multipart", {"content": b"{}", "headers": {"content-type": "multipart/form-data; boundary=b"}}),
    ("an unsupported content type", {"content": b"{}", "headers": {"content-type": "text/plain"}}),
    ("a syntax error", {"json": {"query": "{ job(id: "}}),
    ("a validation error", {"json": {"query": "{ nope }"}}),
    ("a missing variable", {"json": {"query": QUERY_JOB}}),
    ("a variable of the wrong type", {"json": {"query": QUERY_JOB, "variables": {"id": {"a": 1}}}}),
]
BAD_GETS: list[tuple[str, dict[str, str]]] = [
    ("a mutation over GET", {"query": 'mutation { cancelJob(id: "x") { id } }'}),
    ("GET without a query", {}),
    ("GET with variables that are not JSON", {"query": "{ __typename }", "variables": "{"}),
    ("GET with variables nested 5,000 deep", {"query": "{ __typename }", "variables": "[" * 5_000}),
]


async def test_no_error_reaches_a_client_without_a_code(api):
    log = LOGS / f"{api.proc.name}.log"
    before = log.stat().st_size
    async with httpx.AsyncClient(timeout=30) as client:
        as_json = {"headers": {"content-type": "application/json"}}
        answers = [(name, await client.post(api.http_url, **(as_json | how))) for name, how in BAD_REQUESTS]
        accept = {"accept": "application/json"}
        for name, query in BAD_GETS:
            answers.append((name, await client.get(api.http_url, params=query, headers=accept)))
        for method in ("PUT", "DELETE", "PATCH"):
            query = {"query": "{ me { id } }"}
            answers.append((method, await client.request(method, api.http_url, json=query)))
    for name, response in answers:
        assert response.status_code < 500, (name, response.text)
        assert response.headers["content-type"] == "application/json", (name, response.text)
        body = response.json()
        assert body.get("errors") and None not in _codes(body), (name, body)
    with log.open("rb") as f:
        f.seek(before)
        written = f.read().decode()
    assert "Traceback" not in written and "ERROR" not in written, written
