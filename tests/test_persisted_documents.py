"""Persisted documents (graph/bounds/persisted_documents.py): Apollo's automatic persisted queries, stored
in Redis within a budget, and PERSISTED_DOCUMENTS=only, which runs the documents of a manifest
and nothing else, over every transport."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from devstack.redis_server import free_port
from graph.bounds.apq_store import OVERHEAD_BYTES, TOTAL_FIELD
from graph.bounds.persisted_documents import PersistedDocuments
from graph.bounds.persisted_manifest import Manifest, ManifestError, load_manifest
from tests.conftest import api_alone, stack_env
from tests.support.auth import authorization
from tests.support.gql import JOB_UPDATES, connection_init, upload
from tests.support.node import run_node
from tests.support.processes import Api

MANIFESTS = Path(__file__).parent / "manifests"
APOLLO = MANIFESTS / "apollo.json"
CODEGEN = MANIFESTS / "codegen.json"
ME = "query Me { me { id plan } }"  # registered in both manifests' tests: apollo.json
CALLS = "query Calls { rateLimitStatus { scope used } }"  # apollo.json
PLAN = "query Plan { me { plan } }"  # codegen.json, under its sha1
UNREGISTERED = "query Other { me { id } }"
JSON = {"Accept": "application/json"}
APQ_BUDGET = 4096


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


def error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


NOT_FOUND = error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
NOT_ALLOWED = error(
    "this API runs only its registered documents (PERSISTED_DOCUMENTS=only)", "PERSISTED_QUERY_NOT_ALLOWED"
)


async def post(api: Api, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(api.http_url, json=body, headers={**JSON, **authorization(token)})


async def get(api: Api, params: dict[str, str], token: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(api.http_url, params=params, headers={**JSON, **authorization(token)})


def get_params(extensions: dict[str, Any], **more: str) -> dict[str, str]:
    return {"extensions": json.dumps(extensions), **more}


@pytest.fixture(scope="module")
async def apq(redis_server, workdir) -> AsyncIterator[Api]:
    async with api_alone("t-pq-apq", redis_server.url, workdir, APQ_MAX_BYTES=str(APQ_BUDGET)) as api:
        yield api


@pytest.fixture(scope="module")
async def only(redis_server, workdir) -> AsyncIterator[Api]:
    env = {"PERSISTED_DOCUMENTS": "only", "PERSISTED_DOCUMENTS_MANIFEST": str(APOLLO)}
    async with api_alone("t-pq-only", redis_server.url, workdir, **env) as api:
        yield api


async def stored(redis, prefix: str, text: str) -> bytes | None:
    result: bytes | None = await redis.hget(f"{prefix}:apq:docs", sha256(text))
    return result


# --- Automatic persisted queries ------------------------------------------------------------


async def test_an_unknown_hash_is_persisted_query_not_found_as_apollo_server_sends_it(apq):
    response = await post(apq, {"extensions": persisted("query Never { me { id } }")})
    assert response.status_code == 200
    assert (
        response.content == json.dumps({"data": None, "errors": [NOT_FOUND]}, separators=(",", ":")).encode()
    )


async def test_the_text_with_its_hash_runs_is_stored_and_then_the_hash_alone_runs(apq, redis):
    text = "query First { me { id } }"
    first = await post(apq, {"query": text, "extensions": persisted(text)})
    assert first.json()["data"]["me"]["id"]
    assert await stored(redis, "t-pq-apq", text) == text.encode()
    again = await post(apq, {"extensions": persisted(text)})
    assert again.json() == first.json()


async def test_a_hash_that_is_not_the_texts_is_refused_and_nothing_is_stored(apq, redis):
    text = "query Liar { me { id } }"
    response = await post(apq, {"query": text, "extensions": persisted("query Other { me { plan } }")})
    assert response.json()["errors"] == [
        error("provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH")
    ]
    assert response.json().get("data") is None
    assert await stored(redis, "t-pq-apq", text) is None


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ({"persistedQuery": {"version": 2, "sha256Hash": "ab"}}, "Unsupported persisted query version"),
        ({"persistedQuery": {"version": True, "sha256Hash": "ab"}}, "Unsupported persisted query version"),
        ({"persistedQuery": "ab"}, "Unsupported persisted query version"),
        ({"persistedQuery": {"version": 1}}, "extensions.persistedQuery needs a sha256Hash string"),
        (
            {"persistedQuery": {"version": 1, "sha256Hash": 7}},
            "extensions.persistedQuery needs a sha256Hash string",
        ),
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(apq, extensions, message):
    response = await post(apq, {"extensions": extensions})
    assert response.json()["errors"] == [error(message, "BAD_REQUEST")]


async def test_only_documents_that_ran_for_a_caller_with_a_token_are_stored(apq, redis):
    anonymous = "query Anonymous { __typename }"
    ran = await post(apq, {"query": anonymous, "extensions": persisted(anonymous)}, token="")
    assert ran.json()["data"] == {"__typename": "Query"}
    invalid = "query Invalid { noSuchField }"
    refused = await post(apq, {"query": invalid, "extensions": persisted(invalid)})
    assert refused.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    deep = "query Deep { " + "me { " * 12 + "id" + " }" * 13
    too_deep = await post(apq, {"query": deep, "extensions": persisted(deep)})
    assert too_deep.json()["errors"][0]["extensions"]["code"] != "PERSISTED_QUERY_HASH_MISMATCH"
    for text in (anonymous, invalid, deep):
        assert await stored(redis, "t-pq-apq", text) is None


async def test_hashed_queries_go_over_get_and_hashed_mutations_over_get_are_refused(apq, redis):
    text = "query OverGet { me { plan } }"
    assert (await get(apq, get_params(persisted(text)))).json() == {"data": None, "errors": [NOT_FOUND]}
    await post(apq, {"query": text, "extensions": persisted(text)})
    answer = await get(apq, get_params(persisted(text), operationName="OverGet"))
    assert answer.status_code == 200 and answer.json() == {"data": {"me": {"plan": "PREMIUM"}}}

    mutation = 'mutation Gone { deleteQuestionnaire(id: "nope") }'
    await post(apq, {"query": mutation, "extensions": persisted(mutation)})
    assert await stored(redis, "t-pq-apq", mutation) == mutation.encode()
    refused = await get(apq, get_params(persisted(mutation)))
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert refused.json()["errors"] == [error("mutations are not allowed when using GET", "BAD_REQUEST")]


async def test_a_persisted_query_is_charged_to_the_api_call_quota_like_its_text(apq):
    text = "query Charged { rateLimitStatus { scope used } }"

    def calls(body: dict[str, Any]) -> int:
        return next(s["used"] for s in body["data"]["rateLimitStatus"] if s["scope"] == "API_CALLS")

    first = calls((await post(apq, {"query": text, "extensions": persisted(text)})).json())
    second = calls((await post(apq, {"extensions": persisted(text)})).json())
    third = calls((await post(apq, {"extensions": persisted(text)})).json())
    assert (second - first, third - second) == (1, 1)


async def test_the_store_keeps_within_its_budget_dropping_the_least_recently_used(apq, redis):
    """What a client sending many documents can make Redis hold: the budget, not more."""
    texts = [f"query Filler{i} {{ me {{ id }} }}" for i in range(40)]
    for text in texts:
        assert "errors" not in (await post(apq, {"query": text, "extensions": persisted(text)})).json()
    docs, used = "t-pq-apq:apq:docs", "t-pq-apq:apq:used"
    charged = int(await redis.hget(docs, TOTAL_FIELD))
    sizes = [await redis.hstrlen(docs, h) for h in await redis.zrange(used, 0, -1)]
    assert charged == sum(sizes) + OVERHEAD_BYTES * len(sizes) <= APQ_BUDGET
    assert await redis.hlen(docs) == len(sizes) + 1 == await redis.zcard(used) + 1
    assert await stored(redis, "t-pq-apq", texts[-1]) is not None
    assert await stored(redis, "t-pq-apq", texts[0]) is None
    memory = await redis.memory_usage(docs) + await redis.memory_usage(used)
    print(f"\nAPQ store: {len(sizes)} documents, {charged} of {APQ_BUDGET} bytes charged, Redis {memory}")
    assert memory <= APQ_BUDGET


async def test_apollo_link_round_trips_once_then_sends_the_hash_alone(apq, js_clients, redis):
    query = "query ApolloMe { me { id plan } }"
    env = {"API_URL": apq.http_url, "TOKEN": authorization(None)["Authorization"], "QUERY": query}
    result = await run_node("persisted_queries.mjs", env)
    # The first request goes by hash over GET, is PersistedQueryNotFound, the link POSTs the text;
    # the second goes by hash alone over GET and runs.
    assert result["requests"] == [
        {"method": "GET", "query": False, "hash": True},
        {"method": "POST", "query": True, "hash": True},
        {"method": "GET", "query": False, "hash": True},
    ]
    assert result["answers"][0] == result["answers"][1]
    assert result["answers"][0]["me"]["plan"] == "PREMIUM"
    printed = result["printed"]
    assert await stored(redis, "t-pq-apq", printed) == printed.encode()


# --- PERSISTED_DOCUMENTS=only ---------------------------------------------------------------


async def test_only_runs_a_registered_text_and_refuses_any_other(only):
    assert (await post(only, {"query": ME})).json()["data"]["me"]["plan"] == "PREMIUM"
    refused = await post(only, {"query": UNREGISTERED})
    assert (
        refused.content == json.dumps({"data": None, "errors": [NOT_ALLOWED]}, separators=(",", ":")).encode()
    )
    over_get = await get(only, {"query": UNREGISTERED})
    assert over_get.json()["errors"] == [NOT_ALLOWED]


@pytest.mark.parametrize(
    "named",
    [
        {"documentId": f"sha256:{sha256(ME)}"},
        {"documentId": sha256(ME)},
        {"extensions": persisted(ME)},
    ],
    ids=["documentId-prefixed", "documentId-manifest-id", "apq-hash"],
)
async def test_only_runs_a_registered_document_by_id_over_post_and_get(only, named):
    by_post = await post(only, named)
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in named.items()}
    by_get = await get(only, params)
    assert by_post.json()["data"]["me"]["plan"] == "PREMIUM"
    assert by_get.json() == by_post.json()


async def test_only_answers_an_unknown_id_not_found_and_stores_nothing(only, redis):
    assert (await post(only, {"documentId": "sha256:" + "0" * 64})).json()["errors"] == [NOT_FOUND]
    assert (await post(only, {"extensions": persisted(UNREGISTERED)})).json()["errors"] == [NOT_FOUND]
    # The APQ retry, the text with its hash, is refused too, and nothing is kept.
    retry = await post(only, {"query": UNREGISTERED, "extensions": persisted(UNREGISTERED)})
    assert retry.json()["errors"] == [NOT_ALLOWED]
    assert await redis.exists("t-pq-only:apq:docs") == 0


async def test_only_refuses_a_query_with_a_document_id_too(only):
    response = await post(only, {"query": ME, "documentId": sha256(ME)})
    assert response.json()["errors"] == [
        error("send a document's text (query) or its documentId, not both", "BAD_REQUEST")
    ]


async def test_only_refuses_an_unregistered_multipart_upload(only):
    response = await upload(only.http_url, "q-1", b"%PDF-1.4 not really")
    assert response.json()["errors"] == [NOT_ALLOWED]


async def test_only_refuses_an_unregistered_subscription_over_http_streams(only):
    text = "subscription Other($j: ID!) { jobUpdates(jobId: $j) { seq } }"
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            only.http_url,
            json={"query": text, "variables": {"j": "nope"}},
            headers={"Accept": "text/event-stream", **authorization(None)},
        )
    assert "PERSISTED_QUERY_NOT_ALLOWED" in response.text
    assert "jobUpdates" not in response.text


async def ws_operation(api: Api, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message the server sends for one `subscribe` with this payload, up to its end."""
    async with websockets.connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(connection_init())
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "op", "type": "subscribe", "payload": payload}))
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["type"] not in {"complete", "error"}:
            messages.append(json.loads(await ws.recv()))
        return messages


async def test_only_over_websocket_refuses_unregistered_texts_on_both_paths(only):
    """The compiled jobUpdates path skips the schema: the transport's own admission refuses."""
    compiled = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq } }"
    general = "query Other { me { id } }"
    for text in (compiled, general):
        messages = await ws_operation(only, {"query": text, "variables": {"j": "nope"}})
        assert messages == [{"id": "op", "type": "error", "payload": [NOT_ALLOWED]}]


async def test_only_over_websocket_runs_registered_texts_and_ids(only):
    by_text = await ws_operation(only, {"query": ME})
    # By id alone, no query at all (as clients send it); an empty query works as well.
    by_hash = await ws_operation(only, {"extensions": persisted(ME)})
    by_document_id = await ws_operation(only, {"documentId": f"sha256:{sha256(ME)}"})
    assert by_text[0]["payload"]["data"]["me"]["plan"] == "PREMIUM"
    assert by_hash == by_document_id == by_text
    # The registered subscription runs (the compiled path): a job nobody has is NOT_FOUND, not refused.
    subscription = await ws_operation(only, {"query": JOB_UPDATES, "variables": {"j": "nope"}})
    assert "PERSISTED_QUERY_NOT_ALLOWED" not in json.dumps(subscription)
    by_id = await ws_operation(
        only, {"query": "", "extensions": persisted(JOB_UPDATES), "variables": {"j": "x"}}
    )
    assert [m["type"] for m in by_id] == [m["type"] for m in subscription]


async def test_a_codegen_manifest_serves_its_documents_by_their_sha1_ids(redis_server, workdir):
    env = {"PERSISTED_DOCUMENTS": "only", "PERSISTED_DOCUMENTS_MANIFEST": str(CODEGEN)}
    async with api_alone("t-pq-codegen", redis_server.url, workdir, **env) as api:
        sha1 = hashlib.sha1(PLAN.encode()).hexdigest()
        by_id = await post(api, {"documentId": sha1})
        # Apollo's link given Codegen's hash (generateHash) sends it as its sha256Hash, with the text.
        by_link = await post(
            api, {"query": PLAN, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha1}}}
        )
        refused = await post(api, {"query": ME})
    assert by_id.json() == by_link.json() == {"data": {"me": {"plan": "PREMIUM"}}}
    assert refused.json()["errors"] == [NOT_ALLOWED]


@pytest.mark.parametrize(
    ("env", "told"),
    [
        ({"PERSISTED_DOCUMENTS": "only"}, "PERSISTED_DOCUMENTS=only needs a PERSISTED_DOCUMENTS_MANIFEST"),
        (
            {"PERSISTED_DOCUMENTS": "only", "PERSISTED_DOCUMENTS_MANIFEST": "/nonexistent/manifest.json"},
            "cannot read the persisted documents manifest '/nonexistent/manifest.json'",
        ),
        (
            {
                "PERSISTED_DOCUMENTS": "only",
                "PERSISTED_DOCUMENTS_MANIFEST": str(MANIFESTS / "malformed.json"),
            },
            "document 'x' does not parse",
        ),
    ],
    ids=["no-manifest", "missing-file", "malformed"],
)
async def test_only_with_a_manifest_that_cannot_serve_stops_the_api_at_startup(
    redis_server, workdir, env, told
):
    api = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "uvicorn", "asgi:app", "--port", str(free_port())),
        cwd=workdir,
        env={**os.environ, **stack_env(redis_server.url, "t-pq-bad"), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        # An API that started would never exit: the wait's limit fails the test then.
        output, _ = await asyncio.wait_for(api.communicate(), 60)
    finally:
        if api.returncode is None:
            api.kill()
            await api.wait()
    assert api.returncode != 0
    assert told in output.decode()


# --- The manifest formats and the policy, in process ------------------------------------------


def test_both_manifest_formats_index_documents_by_id_and_by_sha256():
    apollo = load_manifest(str(APOLLO), 100_000)
    codegen = load_manifest(str(CODEGEN), 100_000)
    assert apollo.document(sha256(ME)) == apollo.document(f"sha256:{sha256(ME)}") == ME
    assert codegen.document(hashlib.sha1(PLAN.encode()).hexdigest()) == codegen.document(sha256(PLAN)) == PLAN
    assert apollo.registers(CALLS) and not apollo.registers(CALLS + " ")
    assert codegen.document(sha256(ME)) is None


@pytest.mark.parametrize(
    ("content", "told"),
    [
        ("not json", "is not JSON"),
        ("[]", "a manifest is a JSON object"),
        ("{}", "has no documents"),
        ('{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}', '"version": 1'),
        ('{"format": "apollo-persisted-query-manifest", "version": 1, "operations": {}}', "must be a list"),
        (
            '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "a"}]}',
            "must be strings",
        ),
        ('{"a": "{ me { id } }", "b": 3}', "must map a non-empty id to a document string"),
        ('{"a": "' + "{ me { id } }" + " " * 200 + '"}', "over GRAPHQL_MAX_DOCUMENT_BYTES=100"),
    ],
)
def test_a_manifest_that_cannot_serve_says_why(tmp_path, content, told):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=re.escape(told)):
        load_manifest(str(path), 100)


def test_apollo_ids_naming_two_documents_are_refused(tmp_path):
    operations = [{"id": "same", "body": "{ me { id } }"}, {"id": "same", "body": "{ me { plan } }"}]
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations})
    )
    with pytest.raises(ManifestError, match="names two different documents"):
        load_manifest(str(path), 100_000)


async def test_off_answers_persisted_queries_not_supported_so_that_links_send_texts():
    policy = PersistedDocuments("off", Manifest.empty(), APQ_BUDGET, 60.0)
    assert (await policy.admit(ME, None, None, None)).query == ME
    for extensions, document_id in ((persisted(ME), None), (None, "sha256:" + sha256(ME))):
        with pytest.raises(Exception) as refused:
            await policy.admit(None, extensions, document_id, None)
        assert refused.value.extensions == {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}
        assert str(refused.value) == "PersistedQueryNotSupported"
