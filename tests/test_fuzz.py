"""Fuzzed from outside (issue 8, point 8): hypothesis-graphql makes queries, mutations and
subscriptions from the schema the live API introspects, and they are sent over HTTP and
graphql-transport-ws as the fuzzer's own user, as nobody, and as callers with bad tokens; uploads
carry mutated CVs in odd multipart requests; a socket gets protocol messages of any shape. Every
answer is JSON, never a 5xx, and carries only typed errors, none INTERNAL; every job the fuzzer
started ends, none INTERNAL; and neither the API's nor the worker's log has a traceback afterwards.

Each test case is one shape of request (or one way an upload is odd), so that every shape is
tried whatever Hypothesis prefers to draw, and a failure is reported under its name with the
shrunk request that shows it. The default run is derandomized (the same examples every time) and
takes about half a minute; FUZZ_EXAMPLES=2000 makes a long run (that many examples per case, a
tenth of it per odd upload). A long run spends the fuzzer's hourly API calls (1,200 on Premium):
past them, HTTP answers are RATE_LIMITED, typed as they should be, but they exercise less.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import queries

from devstack.redis_server import RedisServer
from tests.conftest import Stack, start_stack
from tests.samples import CV
from tests.support import auth
from tests.support.flows import everything
from tests.support.fuzz import (
    HTTP_SHAPES,
    SHAPES,
    LogWatch,
    Operation,
    as_subscription,
    assert_typed_http_answer,
    documents,
    improvements,
    live_schema,
    operations,
    subscription_schema,
)
from tests.support.fuzz_socket import (
    JOB_SILENCE_LIMIT,
    assert_answered_or_closed_typed,
    assert_typed_socket_operation,
    last_event,
    protocol_messages,
)
from tests.support.fuzz_upload import ODDITIES, MultipartUpload, uploads
from tests.support.gql import create_questionnaire, improve_cv, stream_of
from tests.support.processes import LOGS

# Of this session: test logs are files named by prefix, and other sessions may run this module.
PREFIX = f"t-fuzz-{os.getpid()}"
FUZZER = "fuzzer"
LONG_RUN = int(os.environ.get("FUZZ_EXAMPLES", "0"))
# Examples per test case: each case is one shape of request (or way of being odd).
HTTP_EXAMPLES = LONG_RUN or 100
SOCKET_EXAMPLES = LONG_RUN or 60
UPLOAD_EXAMPLES = LONG_RUN or 60
ODD_UPLOAD_EXAMPLES = LONG_RUN // 10 or 25
PROTOCOL_EXAMPLES = LONG_RUN or 300
# The suite's per-test limit holds for the short run; a long one gets time in proportion.
TIMEOUT = 120 + LONG_RUN // 2
INTERNAL = "INTERNAL"
IMPROVEMENTS = "improveCv inputs"


@dataclass
class Target:
    stack: Stack
    # Introspected once, before the fuzz spends the user's hourly API calls (a long run does).
    schema: graphql.GraphQLSchema
    bearer: str
    known_ids: list[str]
    # Known too: its CV is extracted, so improvements may start from it.
    questionnaire: str
    finished_job: str
    # Not among the known ids, so that no fuzzed deleteQuestionnaire takes it from the uploads.
    upload_questionnaire: str
    # A questionnaire and a finished job for the fuzzed deletions to take.
    spare_ids: list[str]

    @property
    def authorization(self) -> str:
        return f"Bearer {self.bearer}"


@pytest.fixture(scope="module")
async def target(redis_server: RedisServer, workdir) -> AsyncIterator[Target]:
    """A stack of the fuzzer's own (its logs are read), and a Premium user who owns one of
    everything, so that generated ids can name real records."""
    stack = await start_stack(PREFIX, redis_server.url, workdir)
    auth.Caller.become(FUZZER)
    schema = await asyncio.to_thread(live_schema, stack.http, auth.Caller.bearer)
    made = await everything(stack)
    known = [made[name] for name in ("questionnaire", "resume", "job", "response", "analysis")]
    known.append(made["pdf"]["id"])
    for_uploads = (await create_questionnaire(stack.http))["id"]
    spare_job = (await improve_cv(stack.http, CV))["id"]
    await stream_of(stack.ws, spare_job)
    spares = [(await create_questionnaire(stack.http))["id"], spare_job]
    bearer = auth.Caller.bearer
    yield Target(stack, schema, bearer, known, made["questionnaire"], made["job"], for_uploads, spares)
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


async def fuzzed(target: Target, redis, fuzz: Callable[[], None]) -> None:
    """Runs a synchronous Hypothesis test off the event loop, then follows every job it started to
    its end and reads the stack's logs: both are checked even when an answer was wrong."""
    logs = LogWatch([LOGS / f"{proc.name}.log" for proc in (target.stack.api.proc, *target.stack.workers)])
    earlier = set(await job_ids(redis))
    try:
        await asyncio.to_thread(fuzz)
    finally:
        started = [job for job in await job_ids(redis) if job not in earlier]
        unfinished = await asyncio.to_thread(jobs_ended_badly, target, started)
        assert not unfinished, "\n".join(unfinished)
        tracebacks = logs.tracebacks()
        assert not tracebacks, "\n\n".join(tracebacks)


async def job_ids(redis) -> list[str]:
    keys = [key async for key in redis.scan_iter(f"{PREFIX}:job:*", count=1000) if key.count(b":") == 2]
    return [key.decode().split(":")[2] for key in keys]


def jobs_ended_badly(target: Target, ids: list[str]) -> list[str]:
    """Jobs that ended INTERNAL, or that went silent before their end (a job the fuzzer started must
    reach a terminal state; a silent one would otherwise hang the test)."""
    problems = []
    for job_id in ids:
        try:
            end = last_event(target.stack.ws, target.authorization, job_id)
        except TimeoutError:
            problems.append(f"job {job_id}: no event for {JOB_SILENCE_LIMIT}s before its end")
            continue
        if (end["error"] or {}).get("code") == INTERNAL:
            problems.append(f"job {job_id} ended {end}")
    return problems


def named(values: Sequence[str | None]) -> Callable[[Any], Any]:
    """Pytest ids for cases named by a shape or an oddity."""
    return pytest.mark.parametrize("way", values, ids=lambda way: (way or "well-formed").replace(" ", "-"))


@pytest.mark.timeout(TIMEOUT)
@named([*HTTP_SHAPES, IMPROVEMENTS])
async def test_http_operations_get_json_and_typed_errors_only(target, redis, way):
    schema = target.schema
    if way == IMPROVEMENTS:
        sent = improvements(target.questionnaire, target.bearer)
    else:
        sent = operations(schema, documents(schema, target.known_ids, target.spare_ids), target.bearer, way)

    def fuzz() -> None:
        with httpx.Client(timeout=30) as client:

            @fuzz_settings(HTTP_EXAMPLES)
            @given(sent)
            def answered_typed(operation: Operation) -> None:
                assert_typed_http_answer(operation.send(client, target.stack.http))

            answered_typed()

    await fuzzed(target, redis, fuzz)


@pytest.mark.timeout(TIMEOUT)
@named(SHAPES)
async def test_socket_operations_get_typed_messages_and_keep_the_socket(target, redis, way):
    """Subscriptions mostly; queries and mutations too, which graphql-transport-ws carries as well."""
    schema = target.schema
    selections = documents(subscription_schema(schema), target.known_ids, kinds=[queries])
    docs = selections.map(as_subscription) | documents(schema, target.known_ids, target.spare_ids)

    def fuzz() -> None:
        @fuzz_settings(SOCKET_EXAMPLES)
        @given(operations(schema, docs, target.bearer, way))
        def answered_typed(operation: Operation) -> None:
            ws, sentinel = target.stack.ws, target.finished_job
            assert_typed_socket_operation(ws, operation, sentinel, target.authorization)

        answered_typed()

    await fuzzed(target, redis, fuzz)


@pytest.mark.timeout(TIMEOUT)
async def test_socket_messages_of_any_shape_are_answered_or_closed_with_a_code(target, redis):
    def fuzz() -> None:
        @fuzz_settings(PROTOCOL_EXAMPLES)
        @given(protocol_messages())
        def answered_or_closed(message: str | bytes) -> None:
            assert_answered_or_closed_typed(target.stack.ws, message, target.authorization)

        answered_or_closed()

    await fuzzed(target, redis, fuzz)


@pytest.mark.timeout(TIMEOUT)
@named([None, *ODDITIES])
async def test_uploads_of_mutated_files_in_odd_requests_get_typed_answers(target, redis, way):
    def fuzz() -> None:
        with httpx.Client(timeout=30) as client:

            @fuzz_settings(UPLOAD_EXAMPLES if way is None else ODD_UPLOAD_EXAMPLES)
            @given(uploads(target.upload_questionnaire, target.bearer, way))
            def answered_typed(upload: MultipartUpload) -> None:
                answer = client.post(target.stack.http, content=upload.body(), headers=upload.headers())
                assert_typed_http_answer(answer)
                uploaded = (answer.json().get("data") or {}).get("uploadResume")
                if uploaded:  # each file is read before the next replaces it, so that its failure is its own
                    end = last_event(target.stack.ws, target.authorization, uploaded["job"]["id"])
                    assert (end["error"] or {}).get("code") != INTERNAL, end

            answered_typed()

    await fuzzed(target, redis, fuzz)
