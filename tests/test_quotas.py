"""Plans and quotas: daily and hourly limits per plan, charged atomically, refunded when a job
fails on our side; concurrency caps on active jobs and open WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets

from jobs.core.quotas import Plan, Scope, upgrade_hint
from tests.conftest import stack_env
from tests.samples import CV
from tests.support.auth import Caller
from tests.support.fake_openai import Fail, FakeOpenAI, Stream
from tests.support.gql import (
    GraphQLErrors,
    cancel_job,
    connection_init,
    create_questionnaire,
    execute,
    improve_cv,
    metric,
    stream_of,
    upload_resume,
)
from tests.support.processes import Api, start_api

STATUS = "{ rateLimitStatus { scope limit used remaining resetAt plan } }"
# Counters are hourly (API calls) and daily (UTC midnight, also a top of the hour): a test counting
# up to a limit must not straddle a reset, or its last call is counted in a fresh window.
BOUNDARY_MARGIN_SECONDS = 30


@pytest.fixture(autouse=True)
async def clear_of_a_counter_reset() -> None:
    now = datetime.now(UTC)
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    left = (next_hour - now).total_seconds()
    if left < BOUNDARY_MARGIN_SECONDS:
        await asyncio.sleep(left + 1)  # the reset is a time, not an event: waited out


async def _status(url: str) -> dict[str, dict[str, Any]]:
    return {s["scope"]: s for s in (await execute(url, STATUS))["rateLimitStatus"]}


async def _jobs_of(redis, prefix: str, user: str) -> int:
    count = 0
    async for key in redis.scan_iter(f"{prefix}:job:*", count=1000):
        if key.count(b":") == 2 and await redis.hget(key, "owner") == user.encode():
            count += 1
    return count


async def test_the_fourth_ai_improvement_of_a_free_user_is_refused(offline_stack, redis, own_caller):
    Caller.become(own_caller, "Free")
    for _ in range(3):
        await improve_cv(offline_stack.http, CV)
    with pytest.raises(GraphQLErrors) as refused:
        await improve_cv(offline_stack.http, CV)
    assert refused.value.codes == ["RATE_LIMITED"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    extensions = refused.value.errors[0]["extensions"]
    assert extensions == {
        "code": "RATE_LIMITED",
        "scope": "AI_IMPROVEMENTS",
        "limit": 3,
        "used": 3,
        "remaining": 0,
        "resetAt": tomorrow.isoformat(),
        "currentPlan": "Free",
        "upgrade": "Upgrade to Basic for 20 AI improvements a day.",
    }
    assert await _jobs_of(redis, offline_stack.prefix, own_caller) == 3
    status = (await _status(offline_stack.http))["AI_IMPROVEMENTS"]
    assert (status["limit"], status["used"], status["remaining"], status["plan"]) == (3, 3, 0, "FREE")


async def test_fifty_concurrent_requests_at_the_limit_let_only_the_limit_through(
    offline_stack, redis, own_caller
):
    Caller.become(own_caller, "Free")
    refused_before = await metric(offline_stack.api.base_url, "cvi_rate_limited_total")
    by_scope = 'cvi_quota_refusals_total{scope="AI_IMPROVEMENTS"}'
    by_scope_before = await metric(offline_stack.api.base_url, by_scope, absent=0)
    results = await asyncio.gather(
        *(improve_cv(offline_stack.http, CV) for _ in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, GraphQLErrors)]
    assert len(accepted) == 3 and len(refused) == 47
    assert {code for r in refused for code in r.codes} == {"RATE_LIMITED"}
    assert await _jobs_of(redis, offline_stack.prefix, own_caller) == 3
    assert await metric(offline_stack.api.base_url, "cvi_rate_limited_total") == refused_before + 47
    assert await metric(offline_stack.api.base_url, by_scope) == by_scope_before + 47


async def test_questionnaires_have_their_own_daily_quota(offline_stack, own_caller):
    Caller.become(own_caller, "Free")
    for _ in range(5):
        await create_questionnaire(offline_stack.http)
    with pytest.raises(GraphQLErrors) as refused:
        await create_questionnaire(offline_stack.http)
    assert refused.value.errors[0]["extensions"]["upgrade"] == "Upgrade to Basic for 50 questionnaires a day."
    status = await _status(offline_stack.http)
    assert status["QUESTIONNAIRES"]["used"] == 5 and status["AI_IMPROVEMENTS"]["used"] == 0
    assert set(status) == {"AI_IMPROVEMENTS", "QUESTIONNAIRES", "UPLOADS", "API_CALLS", "STORAGE"}
    assert status["STORAGE"]["resetAt"] is None  # stored bytes never reset; deleting gives back


async def test_uploads_have_their_own_daily_quota(offline_stack, own_caller):
    Caller.become(own_caller, "Free")
    questionnaire = await create_questionnaire(offline_stack.http)
    for _ in range(10):
        await upload_resume(offline_stack.http, questionnaire["id"], CV.encode(), filename="cv.txt")
    with pytest.raises(GraphQLErrors) as refused:
        await upload_resume(offline_stack.http, questionnaire["id"], CV.encode(), filename="cv.txt")
    assert refused.value.errors[0]["extensions"]["scope"] == "UPLOADS"
    assert refused.value.errors[0]["extensions"]["limit"] == 10


@pytest.mark.parametrize(
    ("plan", "limits"), [("Basic", (20, 50, 50, 300)), ("Premium", (1000, 1000, 1000, 1200))]
)
async def test_each_plan_has_its_limits(offline_stack, own_caller, plan, limits):
    Caller.become(own_caller, plan)
    status = await _status(offline_stack.http)
    scopes = ("AI_IMPROVEMENTS", "QUESTIONNAIRES", "UPLOADS", "API_CALLS")
    assert tuple(status[s]["limit"] for s in scopes) == limits
    assert {s["plan"] for s in status.values()} == {plan.upper()}


def test_the_top_plan_has_no_upgrade_to_suggest():
    assert upgrade_hint(Scope.AI_IMPROVEMENTS, Plan.PREMIUM) is None
    assert upgrade_hint(Scope.API_CALLS, Plan.PRO) == "Upgrade to Premium for 1200 API calls an hour."


async def test_api_calls_are_counted_per_hour(offline_stack, own_caller):
    Caller.become(own_caller, "Free")
    for _ in range(100):
        await execute(offline_stack.http, "{ me { id } }")
    with pytest.raises(GraphQLErrors) as refused:
        await execute(offline_stack.http, "{ me { id } }")
    extensions = refused.value.errors[0]["extensions"]
    assert (extensions["scope"], extensions["limit"], extensions["used"]) == ("API_CALLS", 100, 100)
    assert extensions["resetAt"].endswith(":00:00+00:00")


async def test_failures_on_our_side_give_the_unit_back_and_cancellations_do_not(
    ai_stack, fake_openai: FakeOpenAI, own_caller
):
    Caller.become(own_caller, "Free")
    outage = fake_openai.script("outage-refund", Fail(500))
    failed = await improve_cv(ai_stack.http, f"{CV}\n{outage}")
    events = await stream_of(ai_stack.ws, failed["id"], after_seq=0)
    assert events[-1]["error"]["code"] == "AI_UNAVAILABLE"
    assert (await _status(ai_stack.http))["AI_IMPROVEMENTS"]["used"] == 0

    too_long = fake_openai.script("too-long-no-refund", Fail(400, "context_length_exceeded"))
    rejected = await improve_cv(ai_stack.http, f"{CV}\n{too_long}")
    assert (await stream_of(ai_stack.ws, rejected["id"]))[-1]["error"]["code"] == "AI_INPUT_TOO_LONG"

    paused = Stream("More text.\n" * 50, chunk=10, pause_after=2)
    running = await improve_cv(ai_stack.http, f"{CV}\n{fake_openai.script('cancel-no-refund', paused)}")
    await paused.started.wait()
    await cancel_job(ai_stack.http, running["id"])
    paused.gate.set()
    assert (await stream_of(ai_stack.ws, running["id"]))[-1]["state"] == "CANCELLED"
    assert (await _status(ai_stack.http))["AI_IMPROVEMENTS"]["used"] == 2


@pytest.fixture(scope="module")
async def capped_api(redis_server, workdir) -> AsyncIterator[Api]:
    """An API with no worker, so jobs stay unfinished; at most 2 of them, and 2 sockets, per user."""
    env = {
        **stack_env(redis_server.url, "t-caps"),
        "MAX_ACTIVE_JOBS_PER_USER": "2",
        "MAX_WEBSOCKETS_PER_USER": "2",
    }
    api = await start_api("t-caps-api", env, workdir)
    yield api
    await api.proc.stop()


async def test_active_jobs_are_capped_per_user(capped_api, own_caller):
    first, _ = [await improve_cv(capped_api.http_url, CV) for _ in range(2)]
    with pytest.raises(GraphQLErrors) as busy:
        await improve_cv(capped_api.http_url, CV)
    assert busy.value.codes == ["TOO_MANY_ACTIVE_JOBS"]
    assert (await _status(capped_api.http_url))["AI_IMPROVEMENTS"][
        "used"
    ] == 2  # the refused one is not charged
    await cancel_job(capped_api.http_url, first["id"])
    assert (await improve_cv(capped_api.http_url, CV))["state"] == "QUEUED"


async def test_an_unfinished_job_cannot_be_deleted(capped_api, own_caller):
    job = await improve_cv(capped_api.http_url, CV)  # no worker here: it stays queued
    delete = "mutation($id: ID!) { deleteJob(id: $id) }"
    with pytest.raises(GraphQLErrors) as active:
        await execute(capped_api.http_url, delete, {"id": job["id"]})
    assert active.value.codes == ["JOB_ACTIVE"] and "cancel it first" in active.value.errors[0]["message"]
    await cancel_job(capped_api.http_url, job["id"])
    assert (await execute(capped_api.http_url, delete, {"id": job["id"]}))["deleteJob"] == job["id"]


async def _open(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])
    await ws.send(connection_init())
    return ws


async def _acked_and_open(ws: websockets.ClientConnection) -> bool:
    """Whether the server acknowledged the socket and kept it open; a socket over the cap is
    closed with 4429 before any acknowledgement."""
    try:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping"}))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
    except websockets.exceptions.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4429
        assert "limit 2" in closed.rcvd.reason
        return False


async def test_open_websockets_are_capped_per_user(capped_api, own_caller):
    sockets = [await _open(capped_api.ws_url) for _ in range(2)]
    assert [await _acked_and_open(ws) for ws in sockets] == [True, True]
    assert not await _acked_and_open(await _open(capped_api.ws_url))
    await sockets[0].close()
    # The server frees the place when it has seen the close; each try is a full handshake.
    for _ in range(50):
        if await _acked_and_open(again := await _open(capped_api.ws_url)):
            break
    else:
        pytest.fail("a closed socket never gave its place back")
    await again.close()
    await sockets[1].close()
