"""Bad input gets a clear, typed error and loses nothing; the schema file stays current; GraphiQL
works without internet access."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.samples import CV
from tests.support.gql import GraphQLErrors, cancel_job, execute, get_job, improve_cv
from tests.support.processes import LOGS

ROOT = Path(__file__).resolve().parent.parent
UNKNOWN = "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"


async def _job_count(redis, prefix: str) -> int:
    return len([k async for k in redis.scan_iter(f"{prefix}:job:*", count=1000) if k.count(b":") == 2])


@pytest.mark.parametrize(
    ("cv_text", "position", "extra", "code", "field"),
    [
        ("", "Engineer", {}, "BAD_USER_INPUT", "cvText"),
        ("   \n\t ", "Engineer", {}, "BAD_USER_INPUT", "cvText"),
        ("x" * 50_001, "Engineer", {}, "INPUT_TOO_LONG", "cvText"),
        (CV, "", {}, "BAD_USER_INPUT", "position"),
        (CV, "p" * 256, {}, "INPUT_TOO_LONG", "position"),
        (CV, "Engineer", {"jobDescription": "j" * 5_001}, "INPUT_TOO_LONG", "jobDescription"),
        (CV, "Engineer", {"prompt": "p" * 5_001}, "INPUT_TOO_LONG", "prompt"),
    ],
)
async def test_invalid_improve_input_is_refused_and_creates_nothing(
    offline_stack, redis, cv_text, position, extra, code, field
):
    before = await _job_count(redis, offline_stack.prefix)
    with pytest.raises(GraphQLErrors) as error:
        await improve_cv(offline_stack.http, cv_text, position, **extra)
    assert error.value.codes == [code]
    assert error.value.errors[0]["extensions"]["field"] == field
    assert field in error.value.errors[0]["message"]
    assert await _job_count(redis, offline_stack.prefix) == before


async def test_cv_text_at_the_limit_is_accepted(offline_stack):
    job = await improve_cv(offline_stack.http, "x" * 50_000)
    assert job["state"] == "QUEUED"


async def test_unknown_and_malformed_job_ids_are_clear_errors(offline_stack):
    for call in (get_job, cancel_job):
        with pytest.raises(GraphQLErrors) as unknown:
            await call(offline_stack.http, UNKNOWN)
        assert unknown.value.codes == ["NOT_FOUND"]
        with pytest.raises(GraphQLErrors) as malformed:
            await call(offline_stack.http, "42; DROP TABLE jobs")
        assert malformed.value.codes == ["BAD_USER_INPUT"]
        assert "UUID" in malformed.value.errors[0]["message"]


async def test_errors_never_carry_tracebacks(offline_stack):
    async with httpx.AsyncClient() as client:
        body = (await client.post(offline_stack.http, json={"query": '{ job(id: "nope") { id } }'})).json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    assert "Traceback" not in str(body) and "stacktrace" not in str(body)


def test_schema_graphql_is_current():
    exported = subprocess.run(
        [sys.executable, "-m", "strawberry", "export-schema", "graph.schema:schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported.strip() == (ROOT / "schema.graphql").read_text().strip(), "run `make schema`"


async def test_graphiql_is_served_with_local_assets_only(offline_stack):
    async with httpx.AsyncClient(base_url=offline_stack.api.base_url) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert "unpkg.com" not in page.text
        assets = re.findall(r'(?:src|href)="(/graphiql-assets/[^"]+)"\s+integrity="([^"]+)"', page.text)
        assert len(assets) == 7
        for path, integrity in assets:
            asset = await client.get(path)
            assert asset.status_code == 200
            digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
            assert integrity == f"sha384-{digest}", path


async def test_client_errors_are_not_logged_as_server_errors(offline_stack):
    log = LOGS / f"{offline_stack.api.proc.name}.log"
    before = log.stat().st_size
    with pytest.raises(GraphQLErrors):
        await get_job(offline_stack.http, UNKNOWN)
    with pytest.raises(GraphQLErrors):
        await execute(offline_stack.http, "{ me { id } }", token="")
    with pytest.raises(GraphQLErrors):
        await execute(offline_stack.http, "{ nope }")
    with log.open("rb") as f:
        f.seek(before)
        written = f.read().decode()
    assert "ERROR" not in written and "Traceback" not in written, written


async def test_errors_of_the_document_itself_are_typed_too(offline_stack):
    for query, code in [
        ("{ job(id: ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        # Four required fields missing: four errors, all typed.
        ('mutation { createQuestionnaire(input: {position: "x"}) { id } }', "GRAPHQL_VALIDATION_FAILED"),
    ]:
        with pytest.raises(GraphQLErrors) as error:
            await execute(offline_stack.http, query)
        assert set(error.value.codes) == {code}, query


async def test_documents_cannot_multiply_their_work(offline_stack):
    aliases = "query { " + " ".join(f"m{i}: me {{ id }}" for i in range(31)) + " }"
    deep = (
        "query($id: ID!) { questionnaire(id: $id) { "
        + "responses { questionnaire { " * 5
        + "id"
        + " } }" * 5
        + " } }"
    )
    for query in (aliases, deep):
        with pytest.raises(GraphQLErrors) as refused:
            await execute(offline_stack.http, query, {"id": UNKNOWN})
        assert refused.value.codes == ["GRAPHQL_VALIDATION_FAILED"], query
    thirty = "query { " + " ".join(f"m{i}: me {{ id }}" for i in range(30)) + " }"
    assert len(await execute(offline_stack.http, thirty)) == 30
