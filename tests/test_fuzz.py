"""Fuzzed from outside (issue 8, point 8): hypothesis-graphql makes queries, mutations and
subscriptions from the schema the live API introspects, and sends them over HTTP and
graphql-transport-ws as a valid user, as nobody, and as callers with bad tokens. Every answer is
JSON, never a 5xx, and carries only typed errors, none INTERNAL; the jobs the fuzzer started all
end, none INTERNAL; and neither the API's nor the worker's log has a traceback afterwards.

The default run is derandomized (the same examples every time) and short enough for `make test`;
FUZZ_EXAMPLES=2000 makes a long run of each test.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import queries

from devstack.redis_server import RedisServer
from tests.conftest import Stack, start_stack
from tests.support import auth
from tests.support.flows import everything
from tests.support.fuzz import (
    LogWatch,
    Operation,
    as_subscription,
    assert_typed_http_answer,
    documents,
    live_schema,
    operations,
    subscription_schema,
)
from tests.support.fuzz_socket import assert_typed_subscription
from tests.support.gql import stream_of
from tests.support.processes import LOGS

PREFIX = "t-fuzz"
FUZZER = "fuzzer"
LONG_RUN = int(os.environ.get("FUZZ_EXAMPLES", "0"))
HTTP_EXAMPLES = LONG_RUN or 300
SOCKET_EXAMPLES = LONG_RUN or 80
# The suite's per-test limit holds for the short run; a long one gets time in proportion.
TIMEOUT = 120 + LONG_RUN // 2


@dataclass
class Target:
    stack: Stack
    bearer: str
    known_ids: list[str]
    finished_job: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.bearer}"

    def watch_logs(self) -> LogWatch:
        return LogWatch([LOGS / f"{proc.name}.log" for proc in (self.stack.api.proc, *self.stack.workers)])


@pytest.fixture(scope="module")
async def target(redis_server: RedisServer, workdir) -> AsyncIterator[Target]:
    """A stack of the fuzzer's own (its logs are read), and a Premium user who owns one of
    everything, so that generated ids can name real records."""
    stack = await start_stack(PREFIX, redis_server.url, workdir)
    auth.Caller.become(FUZZER)
    made = await everything(stack)
    known = [made["questionnaire"], made["resume"], made["job"], made["response"], made["analysis"]]
    yield Target(stack, auth.Caller.bearer, [*known, made["pdf"]["id"]], made["job"])
    await stack.stop()


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


async def all_jobs_end_typed(target: Target, redis) -> list[str]:
    """Follows every job of the fuzzer's stack to its end; the problems of those that ended INTERNAL."""
    ids = [
        key.decode().split(":")[2]
        async for key in redis.scan_iter(f"{PREFIX}:job:*", count=1000)
        if key.count(b":") == 2
    ]
    problems = []
    for job_id in ids:
        final = (await stream_of(target.stack.ws, job_id, token=target.bearer))[-1]
        if final["error"] and final["error"]["code"] == "INTERNAL":
            problems.append(f"job {job_id} ended INTERNAL: {final}")
    return problems


@pytest.mark.timeout(TIMEOUT)
async def test_http_operations_get_json_and_typed_errors_only(target, redis):
    schema = live_schema(target.stack.http, target.bearer)
    watch = target.watch_logs()

    def fuzz() -> None:
        with httpx.Client(timeout=30) as client:

            @fuzz_settings(HTTP_EXAMPLES)
            @given(operations(schema, documents(schema, target.known_ids), target.bearer))
            def answered_typed(operation: Operation) -> None:
                assert_typed_http_answer(
                    client.post(target.stack.http, json=operation.body(), headers=operation.headers())
                )

            answered_typed()

    await asyncio.to_thread(fuzz)
    assert not await all_jobs_end_typed(target, redis)
    assert not watch.tracebacks()


@pytest.mark.timeout(TIMEOUT)
async def test_subscriptions_get_typed_messages_and_keep_the_socket(target, redis):
    schema = live_schema(target.stack.http, target.bearer)
    selections = documents(subscription_schema(schema), target.known_ids, kinds=[queries])
    subscriptions = selections.map(as_subscription)
    watch = target.watch_logs()

    def fuzz() -> None:
        # The socket protocol requires `variables` to be an object; other shapes are helper B's battery.
        @fuzz_settings(SOCKET_EXAMPLES)
        @given(operations(schema, subscriptions, target.bearer, variables_of_any_shape=False))
        def answered_typed(operation: Operation) -> None:
            assert_typed_subscription(target.stack.ws, operation, target.finished_job, target.authorization)

        answered_typed()

    await asyncio.to_thread(fuzz)
    assert not await all_jobs_end_typed(target, redis)
    assert not watch.tracebacks()
