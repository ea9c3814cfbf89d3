"""exportMyData (issue 12, point 1): the zip holds every key Redis has of the caller, found here by
a SCAN of the whole deployment and classified independently of the export's own code, and nothing
of another user's; the download is its owner's only; a day allows EXPORTS_PER_DAY of them."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import Stack, start_stack
from tests.samples import CV
from tests.support.auth import Caller, authorization, token
from tests.support.flows import everything
from tests.support.gql import GraphQLErrors, execute, improve_cv, stream_of

PREFIX = "t-export"
EXPORT = "mutation { exportMyData { downloadUrl job { id kind state } } }"
SECTIONS = {"job": "jobs", "q": "questionnaires", "resume": "uploads", "response": "responses", "pdf": "pdfs"}
# Keys of the deployment that are nobody's: the sweeper's and retention's indexes, APQ documents, Celery's.
SHARED = {"leases", "apq", "celery", "finished"}


@pytest.fixture(scope="module")
async def stack(redis_server: Any, workdir: Any) -> AsyncIterator[Stack]:
    started = await start_stack(PREFIX, redis_server.url, workdir, EXPORTS_PER_DAY="2")
    yield started
    await started.stop()


async def _history(stack: Stack, user: str) -> None:
    """A full history: questionnaire, upload, improvement, analysis, PDF; and a rewrite of pasted text."""
    Caller.become(user)
    await everything(stack)
    job = await improve_cv(stack.http, CV)
    await stream_of(stack.ws, job["id"])


async def _export(stack: Stack) -> tuple[str, bytes]:
    started = (await execute(stack.http, EXPORT))["exportMyData"]
    job_id = started["job"]["id"]
    assert started["job"]["kind"] == "EXPORT" and started["downloadUrl"] == f"/downloads/export/{job_id}"
    events = await stream_of(stack.ws, job_id)
    assert events[-1]["state"] == "SUCCEEDED", events[-1]
    async with httpx.AsyncClient(base_url=stack.api.base_url, timeout=30) as client:
        answer = await client.get(started["downloadUrl"], headers=authorization(None))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    return job_id, answer.content


async def _owner(redis: Redis, name: str) -> str | None:
    """Whose key `name` (without the prefix) is, read from Redis: None for the deployment's own."""
    parts = name.split(":")
    if parts[0] == "quota":
        return parts[2]
    if parts[0] == "user":
        return parts[1]
    if parts[0] == "analysis":
        raw = await redis.get(f"{PREFIX}:analysis:{parts[1]}")
        return json.loads(raw)["meta"]["owner"] if raw else None
    if parts[0] in SECTIONS:
        owner = await redis.hget(f"{PREFIX}:{parts[0]}:{parts[1]}", "owner")
        return owner.decode() if owner else None
    assert parts[0] in SHARED, f"a key of an unknown kind: {name}"
    return None


async def _keys_by_owner(redis: Redis) -> dict[str | None, list[str]]:
    found: dict[str | None, list[str]] = {}
    async for raw in redis.scan_iter(match=f"{PREFIX}:*"):
        name = raw.decode()[len(PREFIX) + 1 :]
        found.setdefault(await _owner(redis, name), []).append(name)
    return found


async def _assert_represented(redis: Redis, name: str, doc: dict[str, Any], archive: zipfile.ZipFile) -> None:
    """The key's content, as Redis holds it, is in the export."""
    key, parts = f"{PREFIX}:{name}", name.split(":")
    if parts[0] == "quota":
        assert doc["quotas"][f"{parts[1]}:{parts[3]}"] == (await redis.get(key)).decode()
        return
    if parts[0] == "user":
        assert parts[2] in doc["indexes"], name
        return
    section = "analyses" if parts[0] == "analysis" else SECTIONS[parts[0]]
    entry = doc[section][parts[1]]
    child = parts[2] if len(parts) > 2 else None
    if child is None and parts[0] == "analysis":
        assert entry["record"] == json.loads(await redis.get(key) or b"null")
    elif child is None:
        assert entry["record"]["owner"] == doc["user"] and set(entry["record"]) <= {
            k.decode() for k in await redis.hkeys(key)
        }
    elif child == "file":
        assert archive.read(entry["file"]["path"]) == await redis.get(key)
    elif child == "output":
        assert entry["output"] == (await redis.get(key)).decode()
    elif child == "export":
        assert entry["export"]["bytes"] == await redis.strlen(key)
    else:  # lists: ids, or a job's events (the export's own log has grown since)
        held = [_listed(v) for v in await redis.lrange(key, 0, -1)]
        assert entry[child] and entry[child] == held[: len(entry[child])], name


def _listed(value: bytes | str) -> Any:
    """An id, or an event (JSON)."""
    text = value.decode() if isinstance(value, bytes) else value
    return json.loads(text) if text.startswith("{") else text


async def test_the_export_holds_every_key_of_the_caller_and_none_of_anyone_else(
    stack: Stack, redis: Redis
) -> None:
    me, other = f"{Caller.user}-a", f"{Caller.user}-b"
    await _history(stack, other)
    await _history(stack, me)
    # A first export, so that the second lists an earlier export among the caller's jobs.
    await _export(stack)
    export_id, content = await _export(stack)

    archive = zipfile.ZipFile(io.BytesIO(content))
    doc = json.loads(archive.read("data.json"))
    assert doc["user"] == me and doc["format"] == "cvimprover-export/1"
    by_owner = await _keys_by_owner(redis)
    mine = [n for n in by_owner[me] if n != f"job:{export_id}:export"]  # an export does not hold itself
    kinds = {n.split(":")[0] + (":" + n.split(":")[2] if n.count(":") == 2 else "") for n in mine}
    assert {
        "job",
        "job:log",
        "q",
        "resume",
        "resume:file",
        "response",
        "pdf",
        "pdf:file",
        "analysis",
    } <= kinds
    assert {"quota", "q:responses", "response:pdfs", "job:export"} <= kinds
    for name in mine:
        await _assert_represented(redis, name, doc, archive)
    assert len(archive.namelist()) == 1 + len([n for n in mine if n.endswith(":file")])

    # Nothing of the other user's: not their id, nor the id of anything of theirs.
    everything_exported = "\n".join(archive.read(n).decode("latin-1") for n in archive.namelist())
    theirs = {n.split(":")[1] for n in by_owner[other] if n.split(":")[0] in {*SECTIONS, "analysis"}}
    assert theirs and other not in everything_exported
    assert [i for i in theirs if i in everything_exported] == []

    # Only its owner downloads it; another user (and a caller without a token) learns nothing.
    async with httpx.AsyncClient(base_url=stack.api.base_url, timeout=30) as client:
        path = f"/downloads/export/{export_id}"
        assert (await client.get(path, headers=authorization(token(other)))).status_code == 404
        assert (await client.get(path)).status_code == 401


async def test_a_day_allows_exports_per_day_exports(stack: Stack) -> None:
    await _export(stack)
    await _export(stack)
    with pytest.raises(GraphQLErrors) as refused:
        await execute(stack.http, EXPORT)
    assert refused.value.codes == ["RATE_LIMITED"]
    assert refused.value.errors[0]["extensions"]["scope"] == "EXPORTS"
