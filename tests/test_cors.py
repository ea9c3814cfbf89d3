"""A frontend on another origin (a Vite or Next dev server, its own domain) may call the API with
fetch when its origin is in ALLOWED_ORIGINS: preflights are answered with the headers GraphQL
clients send, without credentials (tokens, never cookies); any other origin gets no CORS header
at all, so a browser keeps its page from reading the answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import api_alone
from tests.support.auth import authorization
from tests.support.processes import Api

APP = "http://app.example:5173"
EVIL = "https://evil.example"
ME = {"query": "{ me { id } }"}


@pytest.fixture(scope="module")
async def api(redis_server, workdir) -> AsyncIterator[Api]:
    origins = f"{APP}, https://other.example"
    async with api_alone("t-cors", redis_server.url, workdir, ALLOWED_ORIGINS=origins) as api:
        yield api


def _preflight(origin: str, headers: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize(
    "requested",
    ["authorization, content-type", "content-type, apollo-require-preflight", "x-apollo-operation-name"],
)
async def test_a_preflight_from_an_allowed_origin_is_answered(api, requested):
    async with httpx.AsyncClient() as client:
        response = await client.options(api.http_url, headers=_preflight(APP, requested))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(h.strip() in allowed for h in requested.split(","))
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


async def test_an_allowed_origin_reads_the_answer_and_a_foreign_one_gets_no_cors_header(api):
    async with httpx.AsyncClient() as client:
        allowed = await client.post(api.http_url, json=ME, headers={"Origin": APP, **authorization(None)})
        foreign = await client.post(api.http_url, json=ME, headers={"Origin": EVIL, **authorization(None)})
        refused = await client.options(api.http_url, headers=_preflight(EVIL, "authorization"))
    assert allowed.headers["access-control-allow-origin"] == APP and allowed.json()["data"]["me"]
    assert "access-control-allow-origin" not in foreign.headers
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


async def test_a_header_no_client_needs_is_not_allowed(api):
    async with httpx.AsyncClient() as client:
        response = await client.options(api.http_url, headers=_preflight(APP, "x-custom-header"))
    assert response.status_code == 400
