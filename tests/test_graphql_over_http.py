"""GraphQL over HTTP as its spec has it (issue 9, point 4), against a real uvicorn: graphql-http's
server audits (every MUST and SHOULD passes), and byte-exact answers for each case of the
negotiation: `application/graphql-response+json` for clients that prefer it or send no Accept
(4xx and no `data` when execution never started), `application/json` for clients that prefer it
or accept anything (200 with `"data": null`, as it always was), 406 for an Accept /graphql cannot
answer, 405 with Allow for a mutation over GET; and every refusal we make keeps its code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import api_alone
from tests.support.auth import Caller, authorization, token
from tests.support.hostile_documents import diamond
from tests.support.node import run_node
from tests.support.processes import Api
from tests.support.raw_http import RawRequest

GRJ = "application/graphql-response+json"
GRJ_UTF8 = f"{GRJ}; charset=utf-8"
JSON = "application/json"
APOLLO_4 = "application/graphql-response+json,application/json;q=0.9"
URQL = (
    "application/graphql-response+json, application/graphql+json, application/json, "
    "text/event-stream, multipart/mixed"
)
MAX_DOCUMENT_BYTES = 4000
BODY_LIMIT = 50_000
UNKNOWN_JOB = "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"
TYPENAME = {"json": {"query": "{ __typename }"}}


@pytest.fixture(scope="module")
async def api(redis_server, workdir) -> AsyncIterator[Api]:
    small = {
        "GRAPHQL_MAX_DOCUMENT_BYTES": str(MAX_DOCUMENT_BYTES),
        "HTTP_MAX_BODY_BYTES": str(BODY_LIMIT),
        "HTTP_BODY_TIMEOUT_SECONDS": "1",
    }
    async with api_alone("t-gqlhttp", redis_server.url, workdir, **small) as api:
        yield api


async def test_graphql_http_audits_pass_every_must_and_should(api, js_clients):
    results = (await run_node("graphql_http_audit.mjs", {"GRAPHQL_URL": api.http_url}))["results"]
    for level in ("MUST", "SHOULD", "MAY"):
        of_level = [r for r in results if r["name"].startswith(level)]
        passed = sum(r["status"] == "ok" for r in of_level)
        print(f"graphql-http {level}: {passed}/{len(of_level)} pass")
        for r in of_level:
            if r["status"] != "ok":
                print(f"  {r['id']} {r['name']}: {r['reason']}")
    failing = [f"{r['id']} {r['name']}: {r['reason']}" for r in results if r["status"] in ("error", "warn")]
    assert not failing, "\n".join(failing)
    # graphql-http 1.23 has 13 MUST and 23 SHOULD audits: none may go missing unnoticed.
    assert sum(r["name"].startswith("MUST") for r in results) >= 13
    assert sum(r["name"].startswith("SHOULD") for r in results) >= 23


@dataclass
class Case:
    accept: str | None  # None: no Accept header at all
    request: dict[str, Any]
    status: int
    content_type: str
    body: bytes
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


TYPENAME_ANSWER = b'{"data":{"__typename":"Query"}}'
PARSE_ERROR = (
    b'"errors":[{"message":"Syntax Error: Expected Name, found <EOF>.","locations":[{"line":1,"column":2}],'
    b'"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}'
)
VALIDATION_ERROR = (
    b'"errors":[{"message":"Cannot query field \'nope\' on type \'Query\'.",'
    b'"locations":[{"line":1,"column":3}],'
    b'"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}'
)
JOB = "query($id: ID!) { job(id: $id) { id } }"
COERCION_ERROR = (
    b'"errors":[{"message":"Variable \'$id\' has invalid value: ID cannot represent value: {\'a\': 1}",'
    b'"locations":[{"line":1,"column":7}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}'
)
UNKNOWN_OPERATION = (
    b'"errors": [{"message": "Unknown operation named \\"B\\".", "extensions": {"code": "BAD_REQUEST"}}]}'
)
MUTATION_OVER_GET = (
    b'"errors": [{"message": "mutations are not allowed when using GET", '
    b'"extensions": {"code": "BAD_REQUEST"}}]}'
)
CANCEL = {"params": {"query": 'mutation { cancelJob(id: "x") { id } }'}}
NOT_ACCEPTABLE = (
    b'{"data": null, "errors": [{"message": "/graphql answers application/graphql-response+json or '
    b'application/json; Accept names neither", "extensions": {"code": "NOT_ACCEPTABLE"}}]}'
)


def _refusal(message: str, code: str, data: bool) -> bytes:
    error = json.dumps({"message": message, "extensions": {"code": code}}).encode()
    return (b'{"data": null, ' if data else b"{") + b'"errors": [' + error + b"]}"


CASES: dict[str, Case] = {
    # Accept: the client's preference by q, then by its order; */* and application/* are JSON.
    "graphql-response+json": Case(GRJ, TYPENAME, 200, GRJ_UTF8, TYPENAME_ANSWER),
    "application/json": Case(JSON, TYPENAME, 200, JSON, TYPENAME_ANSWER),
    "*/* (fetch, curl, httpx)": Case("*/*", TYPENAME, 200, JSON, TYPENAME_ANSWER),
    "no Accept (past the watershed)": Case(None, TYPENAME, 200, GRJ_UTF8, TYPENAME_ANSWER),
    "Apollo Client 4's Accept": Case(APOLLO_4, TYPENAME, 200, GRJ_UTF8, TYPENAME_ANSWER),
    "urql's Accept": Case(URQL, TYPENAME, 200, GRJ_UTF8, TYPENAME_ANSWER),
    "both, JSON first": Case(f"{JSON}, {GRJ}", TYPENAME, 200, JSON, TYPENAME_ANSWER),
    "both, JSON at a higher q": Case(f"{GRJ};q=0.5, {JSON}", TYPENAME, 200, JSON, TYPENAME_ANSWER),
    "application/*": Case("application/*", TYPENAME, 200, JSON, TYPENAME_ANSWER),
    "with charset": Case(f"{GRJ}; charset=utf-8", TYPENAME, 200, GRJ_UTF8, TYPENAME_ANSWER),
    "nothing we serve": Case("image/png", TYPENAME, 406, JSON, NOT_ACCEPTABLE),
    "JSON refused by q=0": Case(f"{JSON};q=0", TYPENAME, 406, JSON, NOT_ACCEPTABLE),
    # Content types and methods.
    "JSON with a charset": Case(
        GRJ,
        {**TYPENAME, "headers": {"content-type": "application/json; charset=utf-8"}},
        200,
        GRJ_UTF8,
        TYPENAME_ANSWER,
    ),
    "an unsupported content type": Case(
        GRJ,
        {"content": b"{}", "headers": {"content-type": "text/plain"}},
        400,
        GRJ_UTF8,
        _refusal("Unsupported content type", "BAD_REQUEST", data=False),
    ),
    "a query over GET": Case(
        GRJ, {"params": {"query": "{ __typename }"}}, 200, GRJ_UTF8, TYPENAME_ANSWER, "GET"
    ),
    "a mutation over GET": Case(
        GRJ, CANCEL, 405, GRJ_UTF8, b"{" + MUTATION_OVER_GET, "GET", {"allow": "POST"}
    ),
    "a mutation over GET, JSON": Case(
        JSON, CANCEL, 405, JSON, b'{"data": null, ' + MUTATION_OVER_GET, "GET", {"allow": "POST"}
    ),
    "PUT": Case(
        GRJ,
        TYPENAME,
        405,
        GRJ_UTF8,
        _refusal("GraphQL only supports GET and POST requests.", "METHOD_NOT_ALLOWED", data=False),
        "PUT",
        {"allow": "GET, POST"},
    ),
    # A batch (a JSON list): we do not batch; one request is one operation.
    "a batch": Case(
        GRJ,
        {"json": [{"query": "{ __typename }"}]},
        400,
        GRJ_UTF8,
        _refusal("Batching is not enabled", "BAD_REQUEST", False),
    ),
    # Request errors: under graphql-response+json 4xx without data; under JSON as they always were.
    "a parse error": Case(GRJ, {"json": {"query": "{"}}, 400, GRJ_UTF8, b"{" + PARSE_ERROR),
    "a parse error, JSON": Case(JSON, {"json": {"query": "{"}}, 200, JSON, b'{"data":null,' + PARSE_ERROR),
    "a validation error": Case(GRJ, {"json": {"query": "{ nope }"}}, 400, GRJ_UTF8, b"{" + VALIDATION_ERROR),
    "a validation error, JSON": Case(
        JSON, {"json": {"query": "{ nope }"}}, 200, JSON, b'{"data":null,' + VALIDATION_ERROR
    ),
    "an unknown operationName": Case(
        GRJ,
        {"json": {"query": "query A { __typename }", "operationName": "B"}},
        400,
        GRJ_UTF8,
        b"{" + UNKNOWN_OPERATION,
    ),
    "an unknown operationName, JSON": Case(
        JSON,
        {"json": {"query": "query A { __typename }", "operationName": "B"}},
        400,
        JSON,
        b'{"data": null, ' + UNKNOWN_OPERATION,
    ),
    "a variable of the wrong type": Case(
        GRJ, {"json": {"query": JOB, "variables": {"id": {"a": 1}}}}, 400, GRJ_UTF8, b"{" + COERCION_ERROR
    ),
    "a variable of the wrong type, JSON": Case(
        JSON,
        {"json": {"query": JOB, "variables": {"id": {"a": 1}}}},
        200,
        JSON,
        b'{"data":null,' + COERCION_ERROR,
    ),
    "a document over the byte limit": Case(
        GRJ,
        {"json": {"query": "#" + "x" * MAX_DOCUMENT_BYTES + "\n{ __typename }"}},
        413,
        GRJ_UTF8,
        b'{"errors":[{"message":"The document is larger than 4000 bytes.",'
        b'"extensions":{"code":"DOCUMENT_TOO_LARGE"}}]}',
    ),
    "a multipart request without a preflight header": Case(
        GRJ,
        {"files": {"0": ("a.txt", b"x", "text/plain")}, "data": {"operations": "{}", "map": "{}"}},
        400,
        GRJ_UTF8,
        _refusal(
            "multipart requests must carry an Apollo-Require-Preflight header (CSRF defence)",
            "CSRF_PREVENTED",
            data=False,
        ),
    ),
    "a body that is not a JSON object": Case(
        GRJ,
        {"content": b"42", "headers": {"content-type": JSON}},
        400,
        GRJ_UTF8,
        _refusal("The request body must be a JSON object.", "BAD_REQUEST", data=False),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_each_negotiation_case_is_answered_byte_for_byte(api, name):
    case = CASES[name]
    response = await _send(api, case.method, case.accept, case.request)
    assert (response.status_code, response.headers["content-type"]) == (case.status, case.content_type)
    assert response.content == case.body
    for header, value in case.headers.items():
        assert response.headers[header] == value


async def _send(api: Api, method: str, accept: str | None, request: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        if accept is None:
            del client.headers["accept"]  # httpx sends */* unless told otherwise
        else:
            client.headers["accept"] = accept
        return await client.request(method, api.http_url, **request)


@pytest.mark.parametrize("accept", [GRJ, JSON])
async def test_errors_once_execution_started_are_200_with_data(api, accept):
    """A resolver's error (NOT_FOUND, UNAUTHENTICATED without a token) is a field error: execution
    ran, so the answer is 200 and keeps `data`, null here because `job` and `me` are non-null."""
    for query, code, headers in (
        (f'{{ job(id: "{UNKNOWN_JOB}") {{ id }} }}', "NOT_FOUND", authorization(None)),
        ("{ me { id } }", "UNAUTHENTICATED", {}),
    ):
        response = await _send(api, "POST", accept, {"json": {"query": query}, "headers": headers})
        body = response.json()
        assert response.status_code == 200 and response.headers["content-type"].startswith(accept)
        assert body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == [code]
        assert body["errors"][0]["path"]


async def test_the_cost_rules_refuse_with_400_and_no_data(api):
    response = await _send(api, "POST", GRJ, {"json": {"query": diamond(30)}})
    assert response.status_code == 400 and "data" not in response.json()
    assert {e["extensions"]["code"] for e in response.json()["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


async def test_an_api_call_over_the_quota_is_429_before_execution(api):
    """The hourly API-call quota refuses before execution (nothing runs, nothing is charged)."""
    free = token(f"{Caller.user}-free", "Free")
    query = {"json": {"query": "{ me { id } }"}, "headers": authorization(free)}
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(100):  # the Free plan's calls of an hour
            answer = await client.post(api.http_url, **query)
            assert answer.json()["data"]["me"]["id"]
    over = await _send(api, "POST", GRJ, query)
    assert over.status_code == 429 and over.headers["content-type"] == GRJ_UTF8
    body = over.json()
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    legacy = await _send(api, "POST", JSON, query)
    assert legacy.status_code == 200 and legacy.headers["content-type"] == JSON
    assert (
        legacy.json()["data"] is None and legacy.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    )


async def test_a_body_over_the_limit_is_413_in_the_negotiated_type(api):
    """Cut while it streams in (no Accept: graphql-response+json), the connection closed."""
    chunk = b'{"query": "{ __typename }", "variables": {"x": "' + b"y" * (2 * BODY_LIMIT) + b'"}}'
    chunked = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    headers = {"Content-Type": JSON, "Transfer-Encoding": "chunked"}
    status, body, after = await RawRequest(api).send(headers, chunked)
    message = f"request bodies are limited to {BODY_LIMIT} bytes"
    assert (status, body) == (
        413,
        {"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]},
    )
    assert after == b""


async def test_a_declared_size_over_the_limit_is_413_in_the_negotiated_type(api):
    """Refused in front of every route, before a byte of the body is read."""
    headers = {"Content-Type": JSON, "Content-Length": str(30 * 1024 * 1024), "Accept": GRJ}
    status, body, after = await RawRequest(api).send(headers, b'{"query": "')
    assert status == 413 and "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    legacy = {**headers, "Accept": JSON}
    status, body, after = await RawRequest(api).send(legacy, b'{"query": "')
    assert status == 413 and body["data"] is None and after == b""


async def test_a_stalled_body_is_408_in_the_negotiated_type(api):
    headers = {"Content-Type": JSON, "Content-Length": "1000", "Accept": GRJ}
    status, body, after = await RawRequest(api).send(headers, b'{"query": "' + b"x" * 500)
    assert status == 408 and "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert after == b""
