"""C11: a job's outputs are linked in the same atomic step as its SUCCEEDED event, or not at all;
the quota is charged in the same atomic step as the active-job check.

The window tests drive the real emit script in the real Redis with the worker's own `JobRun`:
a cancel, or a redelivered copy taking the job over, lands between a run's last progress write
and its success, and the success with its outputs is then refused whole.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis import Redis as SyncRedis

from graph.domain.job_store import JobStore
from jobs.core.errors import JobClosed, Superseded
from jobs.core.names import JobKind, JobState, Keys, Stage
from jobs.core.outcome import Outcome, Writes
from jobs.work.run import JobRun
from tests.conftest import api_alone
from tests.samples import CV
from tests.support.auth import Caller, authorization
from tests.support.fake_openai import Stream
from tests.support.gql import (
    GraphQLErrors,
    cancel_job,
    create_questionnaire,
    execute,
    improve_cv,
    improve_from_questionnaire,
    subscribe,
)
from tests.support.processes import Api
from tests.test_quotas import _status

PREFIX = "t-fence"
# Bytes no JSON or text encoding would carry through unharmed, as a PDF's are.
BINARY = bytes(range(256)) * 4


@pytest.fixture
def keys() -> Keys:
    return Keys(PREFIX)


@pytest.fixture
def sync_redis(redis_server) -> Iterator[SyncRedis]:
    client = SyncRedis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
async def store(redis, keys) -> AsyncIterator[JobStore]:
    yield JobStore(redis, keys, log_max=100)


def _outcome(keys: Keys, output_id: str) -> Outcome:
    writes = Writes()
    writes.hset(keys.pdf(output_id), mapping={"id": output_id, "size": len(BINARY)})
    writes.set(keys.pdf_file(output_id), BINARY)
    writes.lpush(keys.response_pdfs("the-response"), output_id)
    return Outcome({"pdf_id": output_id}, writes, message="Rendered")


async def _running(store: JobStore, sync_redis: SyncRedis, keys: Keys) -> JobRun:
    record = (await store.create(JobKind.RENDER_PDF, "fence-owner", {"response_id": "the-response"})).record
    run = JobRun(sync_redis, keys, 100, record.id)
    assert run.start(max_redeliveries=3) is not None
    run.progress(90, Stage.FINALIZING, "about to succeed")
    return run


async def _left_behind(redis, keys: Keys, output_id: str) -> list[bytes]:
    found = [k for k in (keys.pdf(output_id), keys.pdf_file(output_id)) if await redis.exists(k)]
    linked = await redis.lrange(keys.response_pdfs("the-response"), 0, -1)
    return found + [i for i in linked if i == output_id.encode()]


async def test_a_cancel_before_success_leaves_no_output(store, sync_redis, redis, keys):
    run = await _running(store, sync_redis, keys)
    await store.cancel(run.job_id)  # the user's cancel lands in the window
    output_id = str(uuid.uuid4())
    with pytest.raises(JobClosed):
        run.succeed(_outcome(keys, output_id))
    assert await _left_behind(redis, keys, output_id) == []
    assert (await store.get(run.job_id)).state is JobState.CANCELLED


async def test_a_superseded_run_leaves_no_output_and_its_successor_links_its_own(
    store, sync_redis, redis, keys
):
    first = await _running(store, sync_redis, keys)
    # Its worker stalls past its lease (as a lost one would), and a redelivered copy of the task
    # takes the job over while the first run is about to finish.
    await redis.hset(keys.job(first.job_id), "lease_until", 0)
    second = JobRun(sync_redis, keys, 100, first.job_id)
    assert second.start(max_redeliveries=3) is not None
    lost_id, kept_id = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(Superseded):
        first.succeed(_outcome(keys, lost_id))
    assert await _left_behind(redis, keys, lost_id) == []

    event = second.succeed(_outcome(keys, kept_id))
    assert (event.state, event.message) == (JobState.SUCCEEDED, "Rendered")
    assert await redis.get(keys.pdf_file(kept_id)) == BINARY  # bytes stored exactly
    assert await redis.hget(keys.pdf(kept_id), "size") == str(len(BINARY)).encode()
    assert await _left_behind(redis, keys, kept_id) == [
        keys.pdf(kept_id),
        keys.pdf_file(kept_id),
        kept_id.encode(),
    ]


async def test_a_job_cancelled_while_generating_leaves_neither_analysis_nor_response(
    ai_stack, fake_openai, own_caller
):
    # The analysis stage runs before generation; its analysis was once stored there, outside the
    # fence, and outlived the cancel.
    paused = Stream("A rewritten line.\n" * 40, chunk=10, pause_after=2)
    marker = fake_openai.script(f"fence-{own_caller}", paused)
    questionnaire = await create_questionnaire(ai_stack.http)
    job = await improve_from_questionnaire(ai_stack.http, questionnaire["id"], cvText=f"{CV}\n{marker}")
    async with subscribe(ai_stack.ws, job["id"], after_seq=0) as sub:
        events: list[dict] = []
        while not any(e["type"] == "OUTPUT" for e in events):
            events += await sub.take(1)
        await cancel_job(ai_stack.http, job["id"])
        paused.gate.set()
        events += await sub.until_complete()
    assert events[-1]["state"] == "CANCELLED"
    query = "query($id: ID!) { questionnaire(id: $id) { analyses { id } responses { id } } }"
    found = (await execute(ai_stack.http, query, {"id": questionnaire["id"]}))["questionnaire"]
    assert found == {"analyses": [], "responses": []}
    job_outputs = "query($id: ID!) { job(id: $id) { state analysis { id } response { id } } }"
    assert (await execute(ai_stack.http, job_outputs, {"id": job["id"]}))["job"] == {
        "state": "CANCELLED",
        "analysis": None,
        "response": None,
    }


async def test_calls_refused_at_the_active_job_cap_are_never_charged(capped_api, own_caller):
    # Free: 3 improvements a day, but at most 2 unfinished jobs (no worker here: they stay queued).
    Caller.become(own_caller, "Free")
    calls = (improve_cv(capped_api.http_url, CV) for _ in range(10))
    results = await asyncio.gather(*calls, return_exceptions=True)
    accepted = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, GraphQLErrors)]
    assert (len(accepted), len(refused)) == (2, 8)
    # Over the cap is the reason for every refusal: none was charged, so none saw the quota spent.
    assert {code for r in refused for code in r.codes} == {"TOO_MANY_ACTIVE_JOBS"}
    assert (await _status(capped_api.http_url))["AI_IMPROVEMENTS"]["used"] == 2
    for job in accepted:
        await cancel_job(capped_api.http_url, job["id"])


async def test_a_job_refused_over_its_quota_is_not_created(capped_api, redis, own_caller):
    Caller.become(own_caller, "Free")
    for _ in range(3):
        job = await improve_cv(capped_api.http_url, CV)
        await cancel_job(capped_api.http_url, job["id"])  # cancelled jobs keep their unit
    before = await redis.dbsize()
    with pytest.raises(GraphQLErrors) as over:
        await improve_cv(capped_api.http_url, CV)
    assert over.value.codes == ["RATE_LIMITED"]
    assert over.value.errors[0]["extensions"]["used"] == 3
    assert await redis.dbsize() == before  # no record, no active-set entry, no counter change
    assert (await _status(capped_api.http_url))["AI_IMPROVEMENTS"]["used"] == 3


@pytest.fixture(scope="module")
async def capped_api(redis_server, workdir) -> AsyncIterator[Api]:
    """An API with no worker, so jobs stay unfinished, and at most 2 of them per user."""
    async with api_alone("t-fence-caps", redis_server.url, workdir, MAX_ACTIVE_JOBS_PER_USER="2") as api:
        yield api


async def test_a_refused_mutation_keeps_what_its_siblings_did(capped_api, own_caller):
    # Mutation fields are nullable: the third improvement, over the cap of 2, answers null with
    # its error, and the two jobs created (and charged) before it reach the client.
    document = "mutation($i: ImproveCvInput!) { a: improveCv(input: $i) { id } " + (
        "b: improveCv(input: $i) { id } c: improveCv(input: $i) { id } }"
    )
    variables = {"i": {"cvText": CV, "position": "Engineer"}}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            capped_api.http_url, json={"query": document, "variables": variables}, headers=authorization(None)
        )
    body = response.json()
    assert body["data"]["a"]["id"] and body["data"]["b"]["id"] and body["data"]["c"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["c"], "TOO_MANY_ACTIVE_JOBS")]
    for alias in ("a", "b"):
        await cancel_job(capped_api.http_url, body["data"][alias]["id"])
