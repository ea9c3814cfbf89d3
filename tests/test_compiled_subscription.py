"""Compiled `jobUpdates` subscriptions (graph/live/compiled_subscription.py) answer exactly as
Strawberry's general execution does; documents they cannot reproduce are left to it."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from graph.domain.job_store import JobStore
from jobs.core.events import ErrorInfo
from jobs.core.names import Keys
from tests.conftest import stack_env
from tests.samples import CV
from tests.support.gql import improve_cv, metric, raw_operation, stream_of
from tests.support.processes import start_api

UNKNOWN = "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"
SELECTIONS = [
    "jobId seq type state progress stage message delta error { code message } at",
    "s: seq kind: type __typename error { __typename c: code }",
    "at seq",
]


def _documents(selection: str) -> tuple[str, str]:
    """The same subscription twice: an inline fragment changes nothing but the execution path."""
    template = "subscription($j: ID!, $a: Int) {{ u: jobUpdates(jobId: $j, afterSeq: $a) {{ {} }} }}"
    return template.format(selection), template.format(f"... on JobEvent {{ {selection} }}")


async def _runs(base_url: str) -> tuple[int, int]:
    return (
        await metric(base_url, "cvi_subscriptions_compiled_total"),
        await metric(base_url, "cvi_subscriptions_general_total"),
    )


async def _both_paths(
    base_url: str, ws_url: str, selection: str, variables: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    compiled, general = _documents(selection)
    before = await _runs(base_url)
    fast = await raw_operation(ws_url, compiled, variables)
    assert await _runs(base_url) == (before[0] + 1, before[1])
    slow = await raw_operation(ws_url, general, variables)
    assert await _runs(base_url) == (before[0] + 1, before[1] + 1)
    return fast, slow


@pytest.mark.parametrize("selection", SELECTIONS)
async def test_compiled_stream_equals_general_execution(offline_stack, selection):
    job = await improve_cv(offline_stack.http, CV)
    await stream_of(offline_stack.ws, job["id"])  # let it finish
    for after_seq in (0, None, 3):
        fast, slow = await _both_paths(
            offline_stack.api.base_url, offline_stack.ws, selection, {"j": job["id"], "a": after_seq}
        )
        assert fast == slow
        assert fast[-1] == {"id": "op", "type": "complete"} and len(fast) > 1


async def test_compiled_error_events_and_stream_errors_equal_general_execution(redis_server, workdir):
    # A stack without workers, so the job stays queued until the API side fails it.
    env = stack_env(redis_server.url, "t-compiled")
    api = await start_api("t-compiled-api", env, workdir)
    redis = Redis.from_url(redis_server.url)
    try:
        job = await improve_cv(api.http_url, CV)
        await JobStore(redis, Keys("t-compiled"), 100).fail(
            job["id"], ErrorInfo("ENQUEUE_FAILED", "not queued")
        )
        fast, slow = await _both_paths(api.base_url, api.ws_url, SELECTIONS[0], {"j": job["id"], "a": 0})
        assert fast == slow
        assert fast[-2]["payload"]["data"]["u"]["error"] == {
            "code": "ENQUEUE_FAILED",
            "message": "not queued",
        }
        for variables, code in (({"j": UNKNOWN}, "NOT_FOUND"), ({"j": "nope"}, "BAD_USER_INPUT")):
            fast, slow = await _both_paths(api.base_url, api.ws_url, SELECTIONS[1], variables)
            assert fast == slow
            assert fast[0]["payload"]["errors"][0]["extensions"]["code"] == code
    finally:
        await redis.aclose()
        await api.proc.stop()


async def test_documents_the_plan_cannot_reproduce_use_general_execution(offline_stack):
    job = await improve_cv(offline_stack.http, CV)
    await stream_of(offline_stack.ws, job["id"])
    base = offline_stack.api.base_url
    fragment = "subscription($j: ID!) { jobUpdates(jobId: $j) { ...F } } fragment F on JobEvent { seq state }"
    compiled_before, general_before = await _runs(base)
    messages = await raw_operation(offline_stack.ws, fragment, {"j": job["id"]})
    assert messages[0]["payload"]["data"]["jobUpdates"]["state"] == "SUCCEEDED"
    # Variables of the wrong type: the general path reports them, as it always did.
    bad = await raw_operation(offline_stack.ws, _documents("seq")[0], {"j": job["id"], "a": "three"})
    assert bad[0]["type"] == "error" and "$a" in bad[0]["payload"][0]["message"], bad
    assert await _runs(base) == (compiled_before, general_before + 2)
