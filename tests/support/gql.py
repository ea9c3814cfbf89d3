"""GraphQL clients for the tests: HTTP through httpx, subscriptions over a real WebSocket
speaking graphql-transport-ws."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets

from tests.support.auth import authorization

EVENT_FIELDS = "jobId seq type state progress stage message delta error { code message } at"
JOB_FIELDS = (
    "id kind state seq progress stage message attempts createdAt updatedAt "
    "result { text model } error { code message }"
)


JOB_UPDATES = (
    "subscription($j: ID!, $a: Int) { jobUpdates(jobId: $j, afterSeq: $a) { " + EVENT_FIELDS + " } }"
)


class GraphQLErrors(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


async def execute(
    url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """The data of one operation over HTTP, as the test's caller (or as `token`; "" for none)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            url, json={"query": query, "variables": variables or {}}, headers=authorization(token)
        )
    body = response.json()
    if body.get("errors"):
        raise GraphQLErrors(body["errors"])
    return body["data"]


async def improve_cv(
    url: str, cv_text: str, position: str = "Backend Engineer", **extra: Any
) -> dict[str, Any]:
    data = await execute(
        url,
        f"mutation($input: ImproveCvInput!) {{ improveCv(input: $input) {{ {JOB_FIELDS} }} }}",
        {"input": {"cvText": cv_text, "position": position, **extra}},
    )
    return data["improveCv"]


async def get_job(url: str, job_id: str) -> dict[str, Any]:
    return (await execute(url, f"query($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}", {"id": job_id}))[
        "job"
    ]


async def cancel_job(url: str, job_id: str) -> dict[str, Any]:
    query = f"mutation($id: ID!) {{ cancelJob(id: $id) {{ {JOB_FIELDS} }} }}"
    return (await execute(url, query, {"id": job_id}))["cancelJob"]


async def metric(base_url: str, name: str, absent: int | None = None) -> int:
    """One counter or gauge of the API's /metrics (a labelled one as `name{label="value"}`);
    `absent` is its value while it has no sample yet (a labelled counter before its first count)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base_url}/metrics")).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(f"{name} ")]
    if not values and absent is not None:
        return absent
    # prometheus-client writes every value as a float ("3.0").
    return int(float(values[0]))


def connection_init(token: str | None = None) -> str:
    """graphql-transport-ws's first message, carrying the caller's token (or `token`)."""
    value = authorization(token)
    payload = {"authorization": value["Authorization"]} if value else {}
    return json.dumps({"type": "connection_init", "payload": payload})


async def raw_operation(
    ws_url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> list[dict[str, Any]]:
    """Every message the server sends for one operation, up to `complete` or `error`."""
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(connection_init(token))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": query, "variables": variables or {}}
        await ws.send(json.dumps({"id": "op", "type": "subscribe", "payload": payload}))
        messages = []
        while not messages or messages[-1]["type"] not in {"complete", "error"}:
            messages.append(json.loads(await ws.recv()))
        return messages


class Subscription:
    def __init__(self, ws: Any, op_id: str) -> None:
        self.ws = ws
        self.op_id = op_id
        self.completed = False

    async def next(self) -> dict[str, Any] | None:
        """The next event; None once the server completed the stream."""
        while True:
            message = json.loads(await self.ws.recv())
            kind = message["type"]
            if kind == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if kind == "complete":
                self.completed = True
                return None
            if kind == "error":
                raise GraphQLErrors(message["payload"])
            payload = message["payload"]
            if payload.get("errors"):
                raise GraphQLErrors(payload["errors"])
            return payload["data"]["jobUpdates"]

    async def take(self, count: int) -> list[dict[str, Any]]:
        events = []
        for _ in range(count):
            event = await self.next()
            assert event is not None, f"stream completed after {len(events)} of {count} events"
            events.append(event)
        return events

    async def until_complete(self) -> list[dict[str, Any]]:
        events = []
        while (event := await self.next()) is not None:
            events.append(event)
        return events


@asynccontextmanager
async def subscribe(
    ws_url: str, job_id: str, after_seq: int | None = None, token: str | None = None, **connect: Any
) -> AsyncIterator[Subscription]:
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], **connect) as ws:
        await ws.send(connection_init(token))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        op_id = uuid.uuid4().hex
        await ws.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {
                        "query": JOB_UPDATES,
                        "variables": {"j": job_id, "a": after_seq},
                    },
                }
            )
        )
        yield Subscription(ws, op_id)


async def stream_of(
    ws_url: str, job_id: str, after_seq: int | None = None, token: str | None = None
) -> list[dict[str, Any]]:
    async with subscribe(ws_url, job_id, after_seq, token) as sub:
        return await sub.until_complete()


def assert_contiguous(events: list[dict[str, Any]], first: int) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(first, first + len(seqs))), seqs
    assert events[-1]["state"] in {"SUCCEEDED", "FAILED", "CANCELLED"}
    assert all(e["state"] not in {"SUCCEEDED", "FAILED", "CANCELLED"} for e in events[:-1])


def final_output(events: list[dict[str, Any]]) -> str:
    """The text of the last attempt: a STARTED event means output starts over (a retry or a
    redelivered task), exactly as a client must render it."""
    starts = [i for i, e in enumerate(events) if e["type"] == "STARTED"]
    tail = events[starts[-1] :] if starts else events
    return "".join(e["delta"] for e in tail if e["type"] == "OUTPUT")


QUESTIONNAIRE_FIELDS = (
    "id position industry experienceLevel companySize location applicationTimeline jobDescription "
    "submittedAt updatedAt"
)
QUESTIONNAIRE_INPUT = {
    "position": "Senior Python Engineer",
    "industry": "Fintech",
    "experienceLevel": "YEARS_6_PLUS",
    "companySize": "MEDIUM",
    "applicationTimeline": "MONTHS_1_3",
    "location": "Leeds, UK",
    "jobDescription": "Python, Django, PostgreSQL and AWS. Kubernetes a plus.",
}


async def create_questionnaire(url: str, **overrides: Any) -> dict[str, Any]:
    query = (
        "mutation($input: QuestionnaireInput!) { createQuestionnaire(input: $input) { "
        + QUESTIONNAIRE_FIELDS
        + " } }"
    )
    return (await execute(url, query, {"input": {**QUESTIONNAIRE_INPUT, **overrides}}))["createQuestionnaire"]


UPLOAD = (
    "mutation($q: ID!, $file: Upload!) { uploadResume(questionnaireId: $q, file: $file) { "
    "resume { id filename format sizeBytes state extractionJobId } job { id kind state seq } } }"
)


async def upload(
    url: str,
    questionnaire_id: str,
    content: bytes,
    filename: str = "cv.pdf",
    content_type: str = "application/pdf",
    preflight: bool = True,
) -> httpx.Response:
    """A GraphQL multipart request (the multipart request spec), as Apollo's and urql's clients send."""
    operations = {"query": UPLOAD, "variables": {"q": questionnaire_id, "file": None}}
    data = {"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})}
    headers = {**authorization(None), **({"Apollo-Require-Preflight": "true"} if preflight else {})}
    async with httpx.AsyncClient(timeout=60) as client:
        return await client.post(
            url, data=data, files={"0": (filename, content, content_type)}, headers=headers
        )


async def upload_resume(url: str, questionnaire_id: str, content: bytes, **kwargs: Any) -> dict[str, Any]:
    body = (await upload(url, questionnaire_id, content, **kwargs)).json()
    if body.get("errors"):
        raise GraphQLErrors(body["errors"])
    return body["data"]["uploadResume"]


RESPONSE_FIELDS = (
    "id text model createdAt truncated jobId usage { promptTokens completionTokens totalTokens } "
    "unverifiedClaims { kind text } questionnaire { id }"
)


async def improve_from_questionnaire(url: str, questionnaire_id: str, **extra: Any) -> dict[str, Any]:
    return await improve_cv_with(url, {"questionnaireId": questionnaire_id, **extra})


async def improve_cv_with(url: str, improve_input: dict[str, Any]) -> dict[str, Any]:
    data = await execute(
        url,
        f"mutation($input: ImproveCvInput!) {{ improveCv(input: $input) {{ {JOB_FIELDS} }} }}",
        {"input": improve_input},
    )
    return data["improveCv"]


async def job_response(url: str, job_id: str) -> dict[str, Any]:
    query = f"query($id: ID!) {{ job(id: $id) {{ response {{ {RESPONSE_FIELDS} }} }} }}"
    return (await execute(url, query, {"id": job_id}))["job"]["response"]


@asynccontextmanager
async def acknowledged_socket(ws_url: str, token: str | None = None) -> AsyncIterator[Any]:
    """A graphql-transport-ws socket the server has acknowledged, as the test's caller."""
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(connection_init(token))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        yield ws


def subscribe_message(
    op_id: str, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
) -> str:
    payload = {"query": query, "variables": variables, "operationName": operation_name}
    return json.dumps({"id": op_id, "type": "subscribe", "payload": payload})


async def closed_with(ws: Any) -> tuple[int, str]:
    """The close code and reason the server ends the socket with; a message instead fails.
    A ping is sent first: a server that ignored what came before answers it with a pong."""
    try:
        await ws.send(json.dumps({"type": "ping"}))
        message = await ws.recv()
    except websockets.exceptions.ConnectionClosed as closed:
        assert closed.rcvd is not None, "dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError(f"the socket stayed open and answered {message!r}")


async def until_no_subscriptions(base_url: str, probes: int = 400) -> None:
    """Returns once /metrics shows no live subscription. A server's clean-up after a socket's
    end offers no event a client can await, so the gauge is probed; a leak never reaches 0."""
    for _ in range(probes):
        if (left := await metric(base_url, "cvi_subscriptions")) == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{left} subscriptions stayed behind")


# The owner's dashboard: every event of any of the caller's jobs.
MY_JOBS = json.dumps(
    {
        "id": "dash",
        "type": "subscribe",
        "payload": {"query": "subscription { myJobUpdates { jobId seq state } }"},
    }
)


@asynccontextmanager
async def dashboard(ws_url: str) -> AsyncIterator[websockets.ClientConnection]:
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(connection_init())
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(MY_JOBS)
        yield ws


async def dashboard_event(ws: websockets.ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert message["type"] == "next", message
    event: dict[str, Any] = message["payload"]["data"]["myJobUpdates"]
    return event
