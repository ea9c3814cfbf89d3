"""A query text parsed and validated once is not parsed or validated again (graph/bounds/document_cache.py),
and nothing a caller sees changes for it, against a real uvicorn: a remembered valid text still meets the
checks that depend on the request (operationName, the caller), an invalid text is refused alike every
time, and a text that fails to parse is refused alike every time. Timings are in bench/mutations.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import api_alone
from tests.support.auth import authorization
from tests.support.processes import Api


@pytest.fixture(scope="module")
async def api(redis_server, workdir) -> AsyncIterator[Api]:
    async with api_alone("t-doccache", redis_server.url, workdir) as api:
        yield api


async def _answers(api: Api, body: dict[str, Any], times: int, token: str | None = None) -> list[Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        answers = []
        for _ in range(times):
            response = await client.post(api.http_url, json=body, headers=authorization(token))
            answers.append((response.status_code, response.json()))
        return answers


async def test_a_remembered_valid_text_still_needs_its_operation_name(api):
    document = "query A { __typename } query B { __typename }"
    named = await _answers(api, {"query": document, "operationName": "A"}, 3, token="")
    assert named == [(200, {"data": {"__typename": "Query"}})] * 3
    # The text is known valid now; the request's missing operationName is still refused.
    (status, body), *_ = await _answers(api, {"query": document}, 1, token="")
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "operationName" in body["errors"][0]["message"]


async def test_a_remembered_valid_text_still_asks_who_calls(api):
    document = "query { me { id } }"
    first, second = await _answers(api, {"query": document}, 2)
    assert first == second and first[0] == 200 and "errors" not in first[1]
    (status, body), *_ = await _answers(api, {"query": document}, 1, token="")
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_invalid_text_is_refused_alike_every_time(api):
    answers = await _answers(api, {"query": "query { noSuchField }"}, 3)
    assert answers[0] == answers[1] == answers[2]
    status, body = answers[0]
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "noSuchField" in body["errors"][0]["message"]


async def test_a_text_that_does_not_parse_is_refused_alike_every_time(api):
    answers = await _answers(api, {"query": "query { me { id }"}, 3)
    assert answers[0] == answers[1] == answers[2]
    status, body = answers[0]
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
