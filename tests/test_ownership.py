"""Ownership (C7): another user's objects answer exactly like missing ones, everywhere."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.samples import CV
from tests.support.auth import authorization, token
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.flows import everything
from tests.support.gql import (
    GraphQLErrors,
    create_questionnaire,
    dashboard,
    dashboard_event,
    execute,
    improve_cv,
    stream_of,
)

BOB = token("bob")


def _shape(errors: list[dict[str, Any]]) -> list[tuple[str, str, tuple[str, ...]]]:
    """An error with the ids taken out: what must not differ between "missing" and "not yours"."""
    return [
        (re.sub(r"[0-9a-f-]{36}", "<id>", e["message"]), e["extensions"]["code"], tuple(e["path"]))
        for e in errors
    ]


async def test_another_user_cannot_read_stream_cancel_render_or_download(offline_stack):
    alice = await everything(offline_stack)
    alice["pdf_url"] = alice["pdf"]["url"]
    missing = str(uuid.uuid4())
    for query, variables in [
        ("query($id: ID!) { job(id: $id) { id } }", "job"),
        ("query($id: ID!) { questionnaire(id: $id) { id } }", "questionnaire"),
        ("query($id: ID!) { analysis(id: $id) { id } }", "analysis"),
        ("mutation($id: ID!) { cancelJob(id: $id) { id } }", "job"),
        ("mutation($id: ID!) { deleteQuestionnaire(id: $id) }", "questionnaire"),
        ("mutation($id: ID!) { renderCvPdf(responseId: $id) { id } }", "response"),
        ("mutation($id: ID!) { analyzeCv(questionnaireId: $id) { id } }", "questionnaire"),
        ("mutation($id: ID!) { improveCv(input: {questionnaireId: $id}) { id } }", "questionnaire"),
    ]:
        with pytest.raises(GraphQLErrors) as theirs:
            await execute(offline_stack.http, query, {"id": alice[variables]}, token=BOB)
        with pytest.raises(GraphQLErrors) as nobodys:
            await execute(offline_stack.http, query, {"id": missing}, token=BOB)
        assert theirs.value.codes == ["NOT_FOUND"], query
        assert _shape(theirs.value.errors) == _shape(nobodys.value.errors), query
    with pytest.raises(GraphQLErrors) as stream:
        await stream_of(offline_stack.ws, alice["job"], after_seq=0, token=BOB)
    assert stream.value.codes == ["NOT_FOUND"]
    async with httpx.AsyncClient(base_url=offline_stack.api.base_url) as client:
        theirs = await client.get(alice["pdf_url"], headers=authorization(BOB))
        nobodys = await client.get(f"/downloads/pdf/{missing}", headers=authorization(BOB))
        anonymous = await client.get(alice["pdf_url"])
    assert theirs.status_code == nobodys.status_code == 404 and theirs.json() == nobodys.json()
    assert anonymous.status_code == 401
    # Still all there for Alice.
    assert (
        await execute(offline_stack.http, "query($id: ID!) { job(id: $id) { state } }", {"id": alice["job"]})
    )["job"]["state"] == "SUCCEEDED"


async def test_an_aliased_enumeration_reveals_nothing(offline_stack):
    alice = [(await improve_cv(offline_stack.http, CV))["id"] for _ in range(3)]
    nobody = [str(uuid.uuid4()) for _ in range(3)]

    async def enumerate_as_bob(ids: list[str]) -> dict[str, Any]:
        query = (
            "query { " + " ".join(f'a{i}: job(id: "{j}") {{ id state }}' for i, j in enumerate(ids)) + " }"
        )
        async with httpx.AsyncClient() as client:
            response = await client.post(
                offline_stack.http, json={"query": query}, headers=authorization(BOB)
            )
        body: dict[str, Any] = response.json()
        return body

    theirs, nobodys = await enumerate_as_bob(alice), await enumerate_as_bob(nobody)
    assert theirs["data"] is None and nobodys["data"] is None
    # Which alias fails first (and nulls the rest) is a race between the resolvers either way.
    assert [s[:2] for s in _shape(theirs["errors"])] == [s[:2] for s in _shape(nobodys["errors"])]
    assert {e["extensions"]["code"] for e in theirs["errors"]} == {"NOT_FOUND"}


async def test_questionnaire_lists_are_per_user(offline_stack):
    mine = await create_questionnaire(offline_stack.http)
    page = "{ questionnaires(first: 100) { edges { node { id } } } }"
    listed = (await execute(offline_stack.http, page))["questionnaires"]["edges"]
    assert [e["node"]["id"] for e in listed] == [mine["id"]]
    assert (await execute(offline_stack.http, page, token=BOB))["questionnaires"]["edges"] == []


async def _paused_job(stack: Any, fake_openai: FakeOpenAI, name: str) -> tuple[dict[str, Any], Stream]:
    """A job of mine whose model pauses after two chunks, until `stream.gate` opens."""
    stream = Stream("Line of the rewrite.\n" * 20, chunk=20, pause_after=2)
    job = await improve_cv(stack.http, f"{CV}\n{fake_openai.script(name, stream)}")
    await stream.started.wait()
    return job, stream


async def _until_finished(
    ws: websockets.ClientConnection, seen: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    while seen[-1]["state"] not in {"SUCCEEDED", "FAILED"}:
        seen.append(await dashboard_event(ws))
    return seen


def _one_job_in_order(seen: list[dict[str, Any]], job_id: str) -> None:
    assert {e["jobId"] for e in seen} == {job_id}
    assert [e["seq"] for e in seen] == sorted({e["seq"] for e in seen})


async def test_my_job_updates_streams_only_my_jobs(ai_stack, fake_openai: FakeOpenAI):
    mine, stream = await _paused_job(ai_stack, fake_openai, "dashboard")
    async with dashboard(ai_stack.ws) as ws:
        # First comes the current state of my unfinished job: from then on the dashboard is live.
        seen = [await dashboard_event(ws)]
        assert seen[0]["jobId"] == mine["id"]
        theirs = await execute(
            ai_stack.http,
            "mutation($i: ImproveCvInput!) { improveCv(input: $i) { id } }",
            {"i": {"cvText": CV, "position": "Engineer"}},
            token=BOB,
        )
        await stream_of(ai_stack.ws, theirs["improveCv"]["id"], token=BOB)
        stream.gate.set()
        _one_job_in_order(await _until_finished(ws, seen), mine["id"])


async def test_my_job_updates_catches_up_after_the_listener_reconnects(
    ai_stack, fake_openai: FakeOpenAI, redis
):
    mine, stream = await _paused_job(ai_stack, fake_openai, "dashboard-kill")
    async with dashboard(ai_stack.ws) as ws:
        seen = [await dashboard_event(ws)]
        assert await redis.client_kill_filter(_type="pubsub", skipme=True) >= 1
        stream.gate.set()  # the rest is published while the listener reconnects
        _one_job_in_order(await _until_finished(ws, seen), mine["id"])
