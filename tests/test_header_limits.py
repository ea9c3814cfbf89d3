"""Headers are bounded before anything reads them: uvicorn's parser takes any size, and the
parsers of Accept and Content-Type are quadratic in their parameters (a 1 MB Accept of ';' once
held an API process for 8 s, a 4 MB one of ',' 27 s and 470 MB)."""

from __future__ import annotations

import httpx
import pytest
import websockets

from tests.support.auth import authorization

ME = {"query": "{ me { id } }"}


async def _post(url: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json=ME, headers={**authorization(None), **headers})


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json" + ";" * 1_000_000},
        {"Accept": "," * 4_000_000 + "application/json"},
        {"Content-Type": "application/json" + ";" * 2_000},
        {"X-Padding": "x" * 20_000},
    ],
    ids=["accept-semicolons", "accept-commas", "content-type", "all-headers"],
)
async def test_headers_over_their_bounds_are_a_typed_431(offline_stack, headers):
    answer = await _post(offline_stack.http, headers)
    assert answer.status_code == 431 and answer.headers["content-type"] == "application/json"
    (error,) = answer.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_HEADERS_TOO_LARGE"}
    assert "limited to" in error["message"]


async def test_headers_within_their_bounds_are_served(offline_stack):
    accept = ", ".join(["text/html;q=0.1"] * 60 + ["application/json"])[:1024]
    answer = await _post(offline_stack.http, {"X-Padding": "x" * 14_000, "Accept": accept})
    assert answer.status_code == 200 and answer.json()["data"]["me"]["id"]


async def test_a_websocket_handshake_with_oversized_headers_is_refused(offline_stack):
    # Lines under 8 KiB each (uvicorn's WebSocket parser drops longer ones unanswered), 18 KB in all.
    padding = {f"X-Padding-{i}": "x" * 6_000 for i in range(3)}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            offline_stack.ws, subprotocols=["graphql-transport-ws"], additional_headers=padding
        ):
            pass
    assert refused.value.response.status_code == 403
