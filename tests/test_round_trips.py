"""Lists are read in one Redis round trip per list level (issue 10, point 4).

A page of questionnaires with each one's CV, responses (each with its PDFs and its questionnaire)
and analyses costs the API the same number of round trips for 3 questionnaires as for 30: sibling
fields are batched by the operation's loaders into pipelines (graph/domain/loaders.py). The round trips
are counted for real, by a TCP proxy between the API and Redis: one round trip is what a
connection sends after its previous answer, up to the next answer. Ownership holds through the
batches (C7): another user's object in a list fails that field with NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from devstack.redis_server import RedisServer
from jobs.analysis import AnalysisInput, analyze
from jobs.core.names import Keys
from jobs.core.outputs import AIResponse, PdfFile, save_pdf, save_response
from jobs.core.questionnaires import (
    ApplicationTimeline,
    CompanySize,
    ExperienceLevel,
    Questionnaire,
    QuestionnaireFields,
    Resume,
    ResumeFormat,
    save_questionnaire,
    save_resume,
)
from tests.conftest import api_alone
from tests.samples import CV
from tests.support.gql import GraphQLErrors, acknowledged_socket, execute, subscribe_message

PREFIX = "t-roundtrips"
RESPONSES_EACH = 2
CONNECTION_UPKEEP = {"PING", "HELLO", "CLIENT", "SELECT", "AUTH"}
PAGE = """query($n: Int!) { questionnaires(first: $n) { edges { node { id
  resume { id }
  responses { id pdfs { id } questionnaire { id } }
  analyses { id } } } } }"""


@dataclass
class _Connection:
    answered: bool = True
    request: bytearray = field(default_factory=bytearray)


class RoundTripCounter:
    """A TCP proxy in front of Redis that records every round trip's request bytes."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._requests: list[bytearray] = []
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            self._server.close()
            for pump in self._pumps:
                pump.cancel()
            await asyncio.gather(*self._pumps, return_exceptions=True)

    def take(self) -> list[list[str]]:
        """The commands of each round trip since the last call, but those of a connection's
        upkeep: its health PINGs come with idle time, and its opening handshake with how many
        connections the pool happened to need, neither with the query."""
        taken, self._requests = self._requests, []
        trips = [command_names(bytes(request)) for request in taken]
        return [trip for trip in trips if not set(trip) <= CONNECTION_UPKEEP]

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        connection = _Connection()
        for pump in (
            self._pump(client_reader, redis_writer, lambda chunk: self._asked(connection, chunk)),
            self._pump(redis_reader, client_writer, lambda _: self._answered(connection)),
        ):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    def _asked(self, connection: _Connection, chunk: bytes) -> None:
        if connection.answered:
            connection.answered, connection.request = False, bytearray()
            self._requests.append(connection.request)
        connection.request += chunk

    def _answered(self, connection: _Connection) -> None:
        connection.answered = True

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Any) -> None:
        try:
            while chunk := await reader.read(65536):
                # Recorded before it is passed on: the other side cannot act on it sooner.
                seen(chunk)
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()


def command_names(request: bytes) -> list[str]:
    """The name of each command in a RESP request (arrays of bulk strings)."""
    names, at = [], 0
    while at < len(request):
        end = request.index(b"\r\n", at)
        count, at = int(request[at + 1 : end]), end + 2
        for position in range(count):
            end = request.index(b"\r\n", at)
            size, at = int(request[at + 1 : end]), end + 2
            if position == 0:
                names.append(request[at : at + size].decode().upper())
            at += size + 2
    return names


class Seeder:
    """Questionnaires with a CV, responses (each with a PDF) and an analysis, written as the API and
    the workers write them."""

    def __init__(self, redis: Redis, owner: str) -> None:
        self._redis = redis
        self._keys = Keys(PREFIX)
        self._owner = owner
        self._analysis = analyze(AnalysisInput(cv_text=CV, position="Backend Engineer")).to_document()

    async def questionnaires(self, count: int) -> list[str]:
        return [await self.questionnaire() for _ in range(count)]

    async def questionnaire(self) -> str:
        keys, owner, now = self._keys, self._owner, time.time()
        fields = QuestionnaireFields(
            "Backend Engineer",
            "Software",
            ExperienceLevel.YEARS_3_5,
            CompanySize.SMALL,
            ApplicationTimeline.IMMEDIATE,
        )
        questionnaire_id, resume_id = str(uuid.uuid4()), str(uuid.uuid4())
        async with self._redis.pipeline(transaction=True) as pipe:
            questionnaire = Questionnaire(questionnaire_id, owner, fields, now, now, resume_id)
            save_questionnaire(pipe, keys, questionnaire)
            resume = Resume(resume_id, owner, questionnaire_id, "cv.txt", ResumeFormat.TEXT, 9, now)
            save_resume(pipe, keys, resume)
            for _ in range(RESPONSES_EACH):
                response = self.response(questionnaire_id)
                save_response(pipe, keys, response)
                pdf = PdfFile(str(uuid.uuid4()), owner, response.id, 5, 1, now)
                save_pdf(pipe, keys, pdf, b"%PDF-")
            analysis_id = str(uuid.uuid4())
            document = {**self._analysis, "meta": self._meta(analysis_id, questionnaire_id, now)}
            pipe.set(keys.analysis(analysis_id), json.dumps(document))
            pipe.lpush(keys.questionnaire_analyses(questionnaire_id), analysis_id)
            await pipe.execute()
        return questionnaire_id

    def response(self, questionnaire_id: str, owner: str | None = None) -> AIResponse:
        response_id, job_id, owner = str(uuid.uuid4()), str(uuid.uuid4()), owner or self._owner
        return AIResponse(response_id, owner, questionnaire_id, job_id, "# CV", "m", time.time())

    async def foreign_response_in(self, questionnaire_id: str) -> str:
        """Another user's response, listed among the questionnaire's."""
        response = self.response(questionnaire_id, owner="u-someone-else")
        async with self._redis.pipeline(transaction=True) as pipe:
            save_response(pipe, self._keys, response)
            await pipe.execute()
        return response.id

    def _meta(self, analysis_id: str, questionnaire_id: str, now: float) -> dict[str, Any]:
        return {
            "id": analysis_id,
            "owner": self._owner,
            "questionnaire_id": questionnaire_id,
            "job_id": str(uuid.uuid4()),
            "created_at": now,
        }


@pytest.fixture
def counter(redis_server: RedisServer) -> Iterator[RoundTripCounter]:
    yield RoundTripCounter(redis_server.port)


Run = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def _cost(run: Run, counter: RoundTripCounter, count: int) -> list[list[str]]:
    """The round trips of reading a page of `count` questionnaires in full, the connections
    it needs opened beforehand by the same query."""
    await run({"n": count})
    counter.take()
    page = await run({"n": count})
    trips = counter.take()
    edges = page["questionnaires"]["edges"]
    assert len(edges) == count
    for edge in edges:
        node = edge["node"]
        assert node["resume"] is not None and len(node["analyses"]) == 1
        assert len(node["responses"]) == RESPONSES_EACH
        for response in node["responses"]:
            assert len(response["pdfs"]) == 1 and response["questionnaire"]["id"] == node["id"]
    return trips


@asynccontextmanager
async def over_websocket(ws_url: str) -> AsyncIterator[Run]:
    """Operations one after the other on one socket (its own round trips, the connection cap's,
    made before the first)."""
    async with acknowledged_socket(ws_url) as ws:
        operations = itertools.count()

        async def run(variables: dict[str, Any]) -> dict[str, Any]:
            op_id = f"page-{next(operations)}"
            await ws.send(subscribe_message(op_id, PAGE, variables))
            data: dict[str, Any] | None = None
            while (message := json.loads(await ws.recv()))["type"] != "complete":
                assert message["type"] == "next" and not message["payload"].get("errors"), message
                data = message["payload"]["data"]
            assert data is not None
            return data

        yield run


async def test_a_page_costs_the_same_round_trips_for_3_questionnaires_as_for_30(
    redis_server: RedisServer, workdir: Path, redis: Redis, own_caller: str, counter: RoundTripCounter
) -> None:
    seeder = Seeder(redis, own_caller)
    await seeder.questionnaires(30)
    async with counter.running() as proxied, api_alone(PREFIX, proxied, workdir) as api:

        async def over_http(variables: dict[str, Any]) -> dict[str, Any]:
            return await execute(api.http_url, PAGE, variables)

        costs = {("HTTP", n): await _cost(over_http, counter, n) for n in (3, 30)}
        async with over_websocket(api.ws_url) as on_a_socket:
            costs |= {("WebSocket", n): await _cost(on_a_socket, counter, n) for n in (3, 30)}
    objects = 30 * (1 + 1 + RESPONSES_EACH * 3 + 1)
    print()
    for (transport, n), trips in costs.items():
        print(f"{transport}: a page of {n} questionnaires in full costs {len(trips)} round trips")
    print(f"the page of 30 ({objects} objects), round trip by round trip:")
    for trip in costs["HTTP", 30]:
        print(f"  {len(trip):3d} commands: {' '.join(sorted(set(trip)))}")
    assert len(costs["HTTP", 3]) == len(costs["HTTP", 30])
    assert len(costs["WebSocket", 3]) == len(costs["WebSocket", 30])
    # The 30 questionnaires' objects come in batches: HGETALL of many keys per round trip.
    assert max(len(trip) for trip in costs["HTTP", 30]) >= 30 * RESPONSES_EACH


async def test_another_users_object_in_a_batched_list_is_not_found(
    redis_server: RedisServer, workdir: Path, redis: Redis, own_caller: str
) -> None:
    seeder = Seeder(redis, own_caller)
    mine = await seeder.questionnaires(3)
    foreign = await seeder.foreign_response_in(mine[1])
    async with api_alone(f"{PREFIX}-owner", redis_server.url, workdir, KEY_PREFIX=PREFIX) as api:
        with pytest.raises(GraphQLErrors) as refused:
            await execute(api.http_url, PAGE, {"n": 3})
        only = await execute(api.http_url, "query($q: ID!) { questionnaire(id: $q) { id } }", {"q": mine[0]})
    assert refused.value.codes == ["NOT_FOUND"]
    error = refused.value.errors[0]
    assert error["message"] == f"response {foreign} does not exist"
    assert error["path"][-1] == "responses"
    assert only["questionnaire"]["id"] == mine[0]
