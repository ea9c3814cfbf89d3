"""Subscriptions over HTTP for clients without WebSocket: multipart (Apollo Client's HttpLink) and
server-sent events (graphql-sse, urql's fetchSubscriptions), with the WebSocket path's semantics:
the token, ownership, snapshot first, afterSeq replay, the end after the terminal event, and the
one pub/sub connection per process. Driven by the real client libraries (tests/js) and by a
byte-exact client of our own (httpx, streaming) for what the libraries cannot provoke."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import Stack, api_alone, start_stack
from tests.samples import CV
from tests.support.auth import Caller, authorization, token
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import (
    JOB_UPDATES,
    assert_contiguous,
    cancel_job,
    closed_with,
    connection_init,
    final_output,
    improve_cv,
    metric,
    raw_operation,
    stream_of,
    subscribe,
)
from tests.support.node import run_node
from tests.support.processes import LOGS, Api

APP = "http://app.example:5173"
MULTIPART = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
SSE = "text/event-stream"
DELIMITER = "\r\n--graphql"
PART_HEAD = "\r\nContent-Type: application/json; charset=utf-8"
HEARTBEAT_SECONDS = "0.2"
MY_JOB_UPDATES = "subscription { myJobUpdates { jobId seq state } }"
CONNECTIONS_PER_USER = 2


@pytest.fixture(scope="module")
async def stack(redis_server, workdir) -> AsyncIterator[Stack]:
    """A worker (jobs run to their end) and an API whose HTTP streams send heartbeats often, so
    that every client below meets them."""
    stack = await start_stack(
        "t-hsub",
        redis_server.url,
        workdir,
        ALLOWED_ORIGINS=APP,
        HTTP_STREAM_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
    )
    yield stack
    await stack.stop()


@pytest.fixture(scope="module")
async def idle(redis_server, workdir) -> AsyncIterator[Api]:
    """An API without a worker: its jobs stay QUEUED until cancelled, so streams stay open for as
    long as a test needs; a cap of two connections per user; tokens without leeway."""
    async with api_alone(
        "t-hsub-idle",
        redis_server.url,
        workdir,
        HTTP_STREAM_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
        MAX_WEBSOCKETS_PER_USER=str(CONNECTIONS_PER_USER),
        JWT_LEEWAY_SECONDS="0",
    ) as api:
        yield api


# --- A byte-exact client ----------------------------------------------------------------------


@dataclass
class Frame:
    kind: str  # "next", "heartbeat" or "complete"
    raw: str
    payload: dict[str, Any] | None = None


class HttpSubscription:
    """One streamed response, split into the frames of its protocol as they arrive."""

    def __init__(self, response: httpx.Response, accept: str) -> None:
        self.response = response
        self.multipart = accept == MULTIPART
        self._chunks = response.aiter_text()
        self._buffer = ""
        self.ended = False

    async def frame(self) -> Frame | None:
        """The next frame; None once the response ended."""
        while (frame := self._split()) is None:
            try:
                self._buffer += await anext(self._chunks)
            except StopAsyncIteration:
                self.ended = True
                assert self._buffer.strip() == "", self._buffer
                return None
        return frame

    def _split(self) -> Frame | None:
        if self.multipart:
            return self._multipart()
        end = self._buffer.find("\n\n")
        if end < 0:
            return None
        raw, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
        assert "\r" not in raw, raw
        if raw == ": ping\n\n":
            return Frame("heartbeat", raw)
        event, data = raw[:-2].split("\n")
        assert event.startswith("event: ") and data.startswith("data: "), raw
        if event == "event: complete":
            assert data == "data: ", raw
            return Frame("complete", raw)
        assert event == "event: next", raw
        return Frame("next", raw, json.loads(data[len("data: ") :]))

    def _multipart(self) -> Frame | None:
        # Apollo's framing: each part ends with "\r\n--graphql"; an empty part and "--" close it.
        end = self._buffer.find(DELIMITER)
        if end < 0:
            return None
        raw, rest = self._buffer[:end], self._buffer[end + len(DELIMITER) :]
        if raw == "":
            if len(rest) < 4:
                return None
            assert rest.startswith("--\r\n"), rest
            self._buffer = rest[4:]
            return Frame("complete", DELIMITER + "--\r\n")
        self._buffer = rest
        head, _, body = raw.partition("\r\n\r\n")
        assert head == f"{PART_HEAD}\r\nContent-Length: {len(body.encode())}"
        part = json.loads(body)
        if part == {}:
            return Frame("heartbeat", raw)
        return Frame("next", raw, part["payload"])

    async def payload(self) -> dict[str, Any] | None:
        """The next payload, heartbeats skipped; None once the stream completed."""
        while (frame := await self.frame()) is not None:
            if frame.kind == "next":
                return frame.payload
            if frame.kind == "complete":
                return None
        raise AssertionError("the response ended without completing the stream")

    async def events(self, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            payload = await self.payload()
            assert payload is not None and not payload.get("errors"), payload
            out.append(payload["data"]["jobUpdates"])
        return out

    async def until_complete(self) -> list[dict[str, Any]]:
        """Every payload up to `complete`, and the response's end right after it."""
        payloads = []
        while (payload := await self.payload()) is not None:
            payloads.append(payload)
        assert await self.frame() is None
        return payloads


@asynccontextmanager
async def http_subscription(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    accept: str = SSE,
    bearer: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[HttpSubscription]:
    request = {"query": query, "variables": variables or {}}
    sent = {"Accept": accept, **authorization(bearer), **(headers or {})}
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream("POST", url, json=request, headers=sent) as r,
    ):
        assert r.status_code == 200, await r.aread()
        yield HttpSubscription(r, accept)


async def http_events(url: str, job_id: str, after_seq: int | None, accept: str) -> list[dict[str, Any]]:
    async with http_subscription(url, JOB_UPDATES, {"j": job_id, "a": after_seq}, accept) as sub:
        payloads = await sub.until_complete()
    assert all(not p.get("errors") for p in payloads), payloads
    return [p["data"]["jobUpdates"] for p in payloads]


def _error_of(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """The one error a refused stream carries."""
    assert len(payloads) == 1 and payloads[0]["data"] is None, payloads
    (error,) = payloads[0]["errors"]
    return error


BOTH = pytest.mark.parametrize("accept", [SSE, MULTIPART], ids=["sse", "multipart"])


# --- What the WebSocket path does, over HTTP ------------------------------------------------------


@BOTH
async def test_a_job_streams_over_http_exactly_as_over_websocket(stack, accept):
    job = await improve_cv(stack.http, CV)
    over_ws = await stream_of(stack.ws, job["id"], after_seq=0)
    assert_contiguous(over_ws, first=1)
    # afterSeq replay from the start and from the middle, and without afterSeq the final state.
    assert await http_events(stack.http, job["id"], 0, accept) == over_ws
    middle = over_ws[len(over_ws) // 2]["seq"]
    assert await http_events(stack.http, job["id"], middle, accept) == over_ws[middle:]
    assert await http_events(stack.http, job["id"], None, accept) == over_ws[-1:]


@BOTH
async def test_the_snapshot_comes_first_then_live_events_and_the_stream_ends_after_the_terminal_one(
    idle, accept
):
    job = await improve_cv(idle.http_url, CV)
    async with http_subscription(idle.http_url, JOB_UPDATES, {"j": job["id"]}, accept) as sub:
        # Read while the job is still QUEUED: nothing in front of the view buffers the stream.
        (snapshot,) = await sub.events(1)
        assert (snapshot["seq"], snapshot["state"]) == (1, "QUEUED")
        await cancel_job(idle.http_url, job["id"])
        rest = await sub.until_complete()
    assert [(e["data"]["jobUpdates"]["seq"], e["data"]["jobUpdates"]["state"]) for e in rest] == [
        (2, "CANCELLED")
    ]
    assert sub.response.headers.get("content-length") is None  # streamed, never buffered whole


@BOTH
async def test_my_job_updates_streams_every_job_of_the_caller(idle, accept):
    first = await improve_cv(idle.http_url, CV)
    async with http_subscription(idle.http_url, MY_JOB_UPDATES, accept=accept) as sub:
        snapshot = await sub.payload()
        assert snapshot is not None and snapshot["data"]["myJobUpdates"]["jobId"] == first["id"]
        second = await improve_cv(idle.http_url, CV)
        live = await sub.payload()
        assert live is not None and live["data"]["myJobUpdates"] == {
            "jobId": second["id"],
            "seq": 1,
            "state": "QUEUED",
        }
        for job in (first, second):
            await cancel_job(idle.http_url, job["id"])
            cancelled = await sub.payload()
            assert cancelled is not None
            assert cancelled["data"]["myJobUpdates"] == {"jobId": job["id"], "seq": 2, "state": "CANCELLED"}


@BOTH
@pytest.mark.parametrize("query", [JOB_UPDATES, MY_JOB_UPDATES], ids=["jobUpdates", "myJobUpdates"])
@pytest.mark.parametrize(
    "bearer", ["", "not-a-jwt", token("someone", secret="x" * 40)], ids=["none", "garbage", "forged"]
)
async def test_without_a_valid_token_the_stream_is_one_unauthenticated_error(idle, accept, query, bearer):
    variables = {"j": "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"}
    async with http_subscription(idle.http_url, query, variables, accept, bearer=bearer) as sub:
        error = _error_of(await sub.until_complete())
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@BOTH
async def test_another_users_job_is_refused_exactly_as_the_socket_refuses_it(idle, accept):
    theirs = await improve_cv(idle.http_url, CV)
    Caller.become("someone-else-" + theirs["id"][:8])
    variables = {"j": theirs["id"], "a": 0}
    async with http_subscription(idle.http_url, JOB_UPDATES, variables, accept) as sub:
        over_http = _error_of(await sub.until_complete())
    over_ws = await raw_operation(idle.ws_url, JOB_UPDATES, variables)
    assert [m["type"] for m in over_ws] == ["next", "complete"]
    assert over_http == over_ws[0]["payload"]["errors"][0]
    assert over_http["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "accept", ["application/json", "application/graphql-response+json", "*/*", None], ids=str
)
async def test_a_subscription_without_a_streaming_accept_is_refused_and_told_how(idle, accept):
    headers = {**authorization(None), **({"Accept": accept} if accept else {})}
    async with httpx.AsyncClient() as client:
        response = await client.post(idle.http_url, json={"query": MY_JOB_UPDATES}, headers=headers)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "text/event-stream" in error["message"] and "subscriptionSpec=1.0" in error["message"]


async def test_sse_is_chosen_only_when_the_client_prefers_it(idle):
    # urql lists text/event-stream after the JSON types on every query: that query is answered
    # as JSON; one that asks for SSE first gets its one result as an SSE stream.
    urql_query = (
        "application/graphql-response+json, application/graphql+json, application/json, "
        "text/event-stream, multipart/mixed"
    )
    async with httpx.AsyncClient() as client:
        plain = await client.post(
            idle.http_url,
            json={"query": "{ me { id } }"},
            headers={"Accept": urql_query, **authorization(None)},
        )
    assert plain.headers["content-type"].startswith("application/") and plain.json()["data"]["me"]
    async with http_subscription(
        idle.http_url, "{ me { id } }", accept="text/event-stream, application/json"
    ) as sub:
        (answer,) = await sub.until_complete()
    assert sub.response.headers["content-type"] == SSE and answer["data"]["me"]["id"] == Caller.user


@BOTH
async def test_an_idle_stream_gets_heartbeats_in_the_protocols_own_form(idle, accept):
    job = await improve_cv(idle.http_url, CV)
    async with http_subscription(idle.http_url, JOB_UPDATES, {"j": job["id"]}, accept) as sub:
        frames = [await sub.frame() for _ in range(4)]
        kinds = [f.kind for f in frames if f is not None]
        # The snapshot, then nothing happens: heartbeats every HTTP_STREAM_HEARTBEAT_SECONDS.
        assert "next" in kinds and kinds.count("heartbeat") >= 2
        heartbeat = next(f.raw for f in frames if f is not None and f.kind == "heartbeat")
        expected = ": ping\n\n" if accept == SSE else f"{PART_HEAD}\r\nContent-Length: 2\r\n\r\n{{}}"
        assert heartbeat == expected
        await cancel_job(idle.http_url, job["id"])
        assert [p["data"]["jobUpdates"]["state"] for p in await sub.until_complete()] == ["CANCELLED"]


async def test_a_client_that_disconnects_frees_its_subscriptions_at_once(idle):
    before = await metric(idle.base_url, "cvi_subscriptions")
    job = await improve_cv(idle.http_url, CV)
    async with AsyncExitStack() as streams:
        # Held in a list: a reader dropped mid-stream closes its connection (httpx), and that is
        # the disconnect this test makes on purpose, below.
        subs = [
            await streams.enter_async_context(
                http_subscription(idle.http_url, JOB_UPDATES, {"j": job["id"]}, accept)
            )
            for accept in (SSE, MULTIPART)
        ]
        for sub in subs:
            await sub.events(1)
        assert await metric(idle.base_url, "cvi_subscriptions") == before + 2
    # The client hung up mid-stream; the server's clean-up offers no event to await: probed.
    for _ in range(200):
        if (now := await metric(idle.base_url, "cvi_subscriptions")) == before:
            break
        await asyncio.sleep(0.05)
    assert now == before


async def test_all_streams_share_the_one_pubsub_connection_of_the_process(idle, redis):
    jobs = [await improve_cv(idle.http_url, CV) for _ in range(2)]
    before = await metric(idle.base_url, "cvi_subscriptions")
    async with AsyncExitStack() as streams:
        subs = [
            await streams.enter_async_context(http_subscription(idle.http_url, JOB_UPDATES, {"j": job["id"]}))
            for job in jobs
        ]
        for sub in subs:
            await sub.events(1)
        assert await metric(idle.base_url, "cvi_subscriptions") == before + 2
        listeners = [c for c in await redis.client_list() if c["name"] == "t-hsub-idle-listener"]
        assert len(listeners) == 1 and int(listeners[0]["sub"]) >= 2  # a channel per job
    for job in jobs:
        await cancel_job(idle.http_url, job["id"])


async def test_a_user_holds_a_bounded_number_of_streams_and_sockets_together(idle):
    jobs = [await improve_cv(idle.http_url, CV) for _ in range(CONNECTIONS_PER_USER)]
    async with AsyncExitStack() as streams:
        subs = []
        for job in jobs:
            sub = await streams.enter_async_context(
                http_subscription(idle.http_url, JOB_UPDATES, {"j": job["id"]})
            )
            await sub.events(1)
            subs.append(sub)
        for accept in (SSE, MULTIPART):
            async with http_subscription(idle.http_url, MY_JOB_UPDATES, accept=accept) as over:
                error = _error_of(await over.until_complete())
            assert error["extensions"] == {"code": "TOO_MANY_CONNECTIONS", "limit": CONNECTIONS_PER_USER}
        # The cap WebSockets have: a socket finds no place either.
        async with websockets.connect(idle.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(connection_init())
            assert await closed_with(ws) == (
                4429,
                f"too many open connections for this user (limit {CONNECTIONS_PER_USER})",
            )
        # A stream that ends gives its place back before its last byte.
        await cancel_job(idle.http_url, jobs[0]["id"])
        await subs[0].until_complete()
        async with http_subscription(idle.http_url, MY_JOB_UPDATES) as again:
            latest = await again.payload()
        assert latest is not None and latest["data"]["myJobUpdates"]["jobId"] == jobs[1]["id"]
    await cancel_job(idle.http_url, jobs[1]["id"])


async def test_streams_whose_clients_hang_up_together_all_give_their_places_back(
    redis_server, workdir, redis
):
    """Starlette cancels each response whose client left, and keeps cancelling at every await:
    the release of a stream's place must still reach Redis (236 of 300 were once lost, their
    users refused TOO_MANY_CONNECTIONS until the leases lapsed)."""
    users = [f"{Caller.user}-h{i}" for i in range(300)]
    body = json.dumps({"query": MY_JOB_UPDATES}).encode()
    async with api_alone("t-hsub-hangup", redis_server.url, workdir) as api:
        host, port = api.http_url.split("//")[1].split("/")[0].split(":")

        async def open_stream(user: str) -> asyncio.StreamWriter:
            reader, writer = await asyncio.open_connection(host, int(port))
            head = (
                f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {SSE}\r\n"
                f"Authorization: Bearer {token(user)}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await reader.readuntil(b"\r\n\r\n")  # the stream's head
            return writer

        async def places_held(keys: list[str], expected: int) -> int:
            # Taken and given back inside the server with no event to await: probed.
            for _ in range(100):
                if (held := sum([await redis.zcard(key) for key in keys])) == expected:
                    break
                await asyncio.sleep(0.05)
            return held

        writers = await asyncio.gather(*(open_stream(user) for user in users))
        keys = [f"t-hsub-hangup:user:{user}:sockets" for user in users]
        assert await places_held(keys, len(users)) == len(users)
        for writer in writers:
            writer.close()  # all at once
        assert await places_held(keys, 0) == 0


async def test_on_sigterm_open_streams_end_with_a_typed_event_and_the_api_exits(redis_server, workdir, redis):
    """Streams never end by themselves: on SIGTERM each ends with SERVICE_UNAVAILABLE (resubscribe
    elsewhere with afterSeq) and completes, its place given back, and the API exits without
    waiting for its clients; it once waited until it was killed, the places held for 90 s."""
    log = LOGS / "t-hsub-sigterm-api.log"  # appended to by every run
    logged_before = log.stat().st_size if log.exists() else 0
    async with AsyncExitStack() as streams:
        api = await streams.enter_async_context(api_alone("t-hsub-sigterm", redis_server.url, workdir))
        subs = [
            await streams.enter_async_context(http_subscription(api.http_url, MY_JOB_UPDATES, accept=accept))
            for accept in (SSE, MULTIPART)
        ]
        key = f"t-hsub-sigterm:user:{Caller.user}:sockets"
        for _ in range(100):  # taken inside the server, once the stream runs: probed
            if await redis.zcard(key) == 2:
                break
            await asyncio.sleep(0.05)
        assert await redis.zcard(key) == 2
        stopping = asyncio.create_task(api.proc.stop())  # SIGTERM (SIGKILL past 30 s)
        for sub in subs:
            error = _error_of(await sub.until_complete())
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE" and "afterSeq" in error["message"]
        await stopping
    # uvicorn exits with the signal it was stopped by.
    assert api.proc.process.returncode in (0, -signal.SIGTERM)
    assert await redis.zcard(key) == 0
    assert "ERROR" not in log.read_text()[logged_before:]


async def test_a_stream_ends_when_its_token_expires(idle):
    bearer = token(Caller.user, ttl=2)
    async with http_subscription(idle.http_url, MY_JOB_UPDATES, bearer=bearer) as sub:
        error = _error_of(await sub.until_complete())
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "expired" in error["message"]


# --- The client libraries frontends use -----------------------------------------------------------

LIBRARIES = pytest.mark.parametrize(
    ("library", "sends"),
    [
        ("apollo3", "multipart/mixed;boundary=graphql;subscriptionSpec=1.0"),
        ("apollo4", "multipart/mixed;boundary=graphql;subscriptionSpec=1.0"),
        ("urql", SSE),
        ("graphql-sse", SSE),
    ],
)


async def _library(
    library: str, url: str, query: str, variables: dict[str, Any], bearer: str | None = None
) -> dict[str, Any]:
    env = {
        "API_URL": url,
        "TOKEN": authorization(bearer).get("Authorization", ""),
        "CLIENT": library,
        "QUERY": query,
        "VARIABLES": json.dumps(variables),
    }
    return await run_node("http_sub_clients.mjs", env)


@LIBRARIES
async def test_each_library_streams_a_job_to_its_end_as_the_websocket_does(stack, js_clients, library, sends):
    job = await improve_cv(stack.http, CV)
    # Live: the library subscribes while the worker runs the job (heartbeats every 0.2 s between).
    outcome = await _library(library, stack.http, JOB_UPDATES, {"j": job["id"], "a": 0})
    assert outcome["accept"].startswith(sends), outcome["accept"]
    assert outcome["errors"] is None and outcome["completed"], outcome
    events = [d["jobUpdates"] for d in outcome["data"]]
    assert_contiguous(events, first=1)
    assert events == await stream_of(stack.ws, job["id"], after_seq=0)
    assert final_output(events)


@LIBRARIES
async def test_each_library_reports_the_typed_error_the_socket_gives(stack, js_clients, library, sends):
    theirs = await improve_cv(stack.http, CV)
    stranger = token("stranger-" + theirs["id"][:8])
    refused = await _library(library, stack.http, JOB_UPDATES, {"j": theirs["id"]}, bearer=stranger)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["NOT_FOUND"], refused
    anonymous = await _library(library, stack.http, MY_JOB_UPDATES, {}, bearer="")
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"], anonymous


# --- Browsers on another origin, middlewares, slow readers --------------------------------------


async def test_a_page_on_an_allowed_origin_preflights_and_reads_a_stream(stack):
    # Apollo's Accept holds quotes, which makes it a non-safelisted header: the browser asks first.
    preflight = {
        "Origin": APP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "accept, authorization, content-type",
    }
    async with httpx.AsyncClient() as client:
        answer = await client.options(stack.http, headers=preflight)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == APP
    assert {"accept", "authorization", "content-type"} <= {
        h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")
    }
    job = await improve_cv(stack.http, CV)
    for accept in (MULTIPART, SSE):
        variables = {"j": job["id"], "a": 0}
        async with http_subscription(
            stack.http, JOB_UPDATES, variables, accept, headers={"Origin": APP}
        ) as sub:
            assert sub.response.headers["access-control-allow-origin"] == APP
            events = [p["data"]["jobUpdates"] for p in await sub.until_complete()]
        assert_contiguous(events, first=1)


def _dechunked(response: bytes) -> bytes:
    """The body of an HTTP/1.1 response sent with chunked transfer coding."""
    head, _, rest = response.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower(), head
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body
        body, rest = body + rest[:size], rest[size + 2 :]


class StuckReader:
    """An SSE subscription on a raw socket with a tiny receive buffer, that stops reading after
    the first event: the slowest consumer possible, until it reads again."""

    def __init__(self, port: int, bearer: str) -> None:
        self.sock = socket.socket()
        # Set before connecting, so the advertised window never grows.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.port = port
        self.bearer = bearer
        self.received = b""

    async def subscribe(self, variables: dict[str, Any]) -> None:
        await asyncio.to_thread(self._subscribe, variables)

    def _subscribe(self, variables: dict[str, Any]) -> None:
        self.sock.connect(("127.0.0.1", self.port))
        body = json.dumps({"query": JOB_UPDATES, "variables": variables}).encode()
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
            f"Accept: {SSE}\r\nAuthorization: Bearer {self.bearer}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        self.read_until(b"event: next")

    def read_until(self, marker: bytes) -> None:
        while marker not in self.received:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"the server closed the connection before {marker!r}")
            self.received += chunk

    def close(self) -> None:
        self.sock.close()


async def test_a_stream_that_falls_too_far_behind_ends_with_a_clear_error(ai_stack, fake_openai: FakeOpenAI):
    # Big events and a short inbox, so that the stuck reader's buffers fill quickly (1 MB of its
    # 8), and yet one the reader that keeps up never fills when its API stalls a moment.
    api = await ai_stack.add_api("hsub-small-queues", SUBSCRIBER_QUEUE_SIZE="256", STREAM_FLUSH_CHARS="4000")
    stream = Stream("x" * 8_000_000, chunk=4000, pause_after=1, interval=0.001)
    job = await improve_cv(ai_stack.http, f"{CV}\n{fake_openai.script('hsub-never-reads', stream)}")
    stuck = StuckReader(api.port, Caller.bearer)
    try:
        await stuck.subscribe({"j": job["id"], "a": 0})
        async with subscribe(api.ws_url, job["id"], after_seq=0) as reader:  # one that keeps up
            first = await reader.take(2)  # subscribed before the flood, as a live reader is
            stream.gate.set()
            events = first + await reader.until_complete()
        assert_contiguous(events, first=1)
        assert len(final_output(events)) == 8_000_000
        # The listener dropped the stuck stream alone, and holds nothing for it any more.
        assert await metric(api.base_url, "cvi_dropped_subscribers_total") == 1
        assert await metric(api.base_url, "cvi_subscriptions") == 0
        # Once it reads again, what was already on its way arrives, then the error and the end.
        await asyncio.to_thread(stuck.read_until, b"\r\n0\r\n\r\n")  # the last chunk
        *_, error, complete, end = _dechunked(stuck.received).decode().split("\n\n")
        assert (complete, end) == ("event: complete\ndata: ", "")
        payload = json.loads(error.split("data: ", 1)[1])
        assert payload["data"] is None
        assert [e["extensions"]["code"] for e in payload["errors"]] == ["SLOW_SUBSCRIBER"]
    finally:
        stuck.close()
        await api.proc.stop()
