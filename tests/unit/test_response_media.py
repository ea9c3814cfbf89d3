"""Accept negotiation and the status of a GraphQL answer over HTTP (graph/edges/response_media.py)."""

from __future__ import annotations

import json

import pytest
from graphql import GraphQLError

from graph.edges.response_media import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    MAX_RANGES,
    error_document,
    is_request_error,
    negotiate,
    preferred,
    serves_something,
    status_of,
)

STREAMS = ("multipart/mixed", "text/event-stream")


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, GRAPHQL_RESPONSE_JSON),  # no Accept: the spec's default since its 2025 watershed
        ("", GRAPHQL_RESPONSE_JSON),
        ("*/*", JSON),  # accepted only by a wildcard: what */* meant before
        ("application/*", JSON),
        ("application/json", JSON),
        ("APPLICATION/JSON", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", JSON),  # equal q: the one listed first
        (f"{GRAPHQL_RESPONSE_JSON}, {JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.9, {JSON}", JSON),  # the higher q wins
        (f"*/*, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),  # named beats taken by a wildcard
        (f"application/*;q=0.5, {GRAPHQL_RESPONSE_JSON};q=0.4", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", JSON),  # refused by name, wildcard or not
        ("application/json;q=0", None),
        ("application/json;q=abc, */*;q=0.1", GRAPHQL_RESPONSE_JSON),  # an unreadable q accepts nothing
        ("application/json;q=7", JSON),  # clamped to 1
        ("text/html", None),
        ("text/*", None),
        ("," * MAX_RANGES + "application/json", None),  # ranges past the 32nd are not read
        ("," * (MAX_RANGES - 1) + "application/json", JSON),
    ],
)
def test_negotiate(accept, media):
    assert negotiate(accept) == media


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        ("text/event-stream, multipart/mixed;q=0.9", STREAMS, "text/event-stream"),
        ("multipart/mixed, text/event-stream", STREAMS, "multipart/mixed"),
        ("*/*", STREAMS, "multipart/mixed"),  # a tie of wildcards: the server's first
        ("multipart/*, text/event-stream", STREAMS, "text/event-stream"),
        ("multipart/mixed;q=0.1, text/*;q=0.2", STREAMS, "text/event-stream"),
        ("application/json", STREAMS, None),
        ("multipart/*;q=0, */*", STREAMS, "text/event-stream"),
    ],
)
def test_preferred(accept, offered, chosen):
    assert preferred(accept, offered) == chosen


@pytest.mark.parametrize(
    ("accept", "served"),
    [("text/html", True), ("text/event-stream", True), ("image/png", False), ("application/json;q=0", False)],
)
def test_serves_something(accept, served):
    assert serves_something(accept) is served


def _coded(code: str) -> dict[str, object]:
    return {"errors": [{"message": "m", "extensions": {"code": code}}]}


@pytest.mark.parametrize(
    ("media", "body", "status"),
    [
        (JSON, _coded("UNAUTHENTICATED"), 200),  # legacy clients always get 200
        (GRAPHQL_RESPONSE_JSON, {"data": None, "errors": [{"message": "m"}]}, 200),  # execution started
        (GRAPHQL_RESPONSE_JSON, _coded("UNAUTHENTICATED"), 401),
        (GRAPHQL_RESPONSE_JSON, _coded("FORBIDDEN"), 403),
        (GRAPHQL_RESPONSE_JSON, _coded("DOCUMENT_TOO_LARGE"), 413),
        (GRAPHQL_RESPONSE_JSON, _coded("RATE_LIMITED"), 429),
        (GRAPHQL_RESPONSE_JSON, _coded("INTERNAL"), 500),
        (GRAPHQL_RESPONSE_JSON, _coded("SERVICE_UNAVAILABLE"), 503),
        (GRAPHQL_RESPONSE_JSON, _coded("GRAPHQL_VALIDATION_FAILED"), 400),
        (GRAPHQL_RESPONSE_JSON, {"errors": [{"message": "no code"}]}, 400),
        (GRAPHQL_RESPONSE_JSON, [{"data": {}}, _coded("FORBIDDEN")], 200),  # a batch
    ],
)
def test_status_of(media, body, status):
    assert status_of(media, body) == status


def test_a_request_error_is_one_no_field_raised():
    assert is_request_error(None, [GraphQLError("did not parse")])
    assert not is_request_error(None, [GraphQLError("a field failed", path=["job"])])
    assert not is_request_error({"job": None}, [GraphQLError("did not parse")])
    assert not is_request_error(None, [])


def test_error_documents_keep_data_null_for_legacy_json_only():
    errors = [{"message": "m"}]
    assert json.loads(error_document(GRAPHQL_RESPONSE_JSON, errors)) == {"errors": errors}
    assert json.loads(error_document(JSON, errors)) == {"data": None, "errors": errors}
