"""LOG_FORMAT=json: the API and the worker write one JSON object per line, with the request id the
mutation's caller sent carried to the job's task, and a hash of the user id. A whole flow (upload
a CV full of contact details, improve it, render its PDF) leaves none of the CV's personal details,
the user id or the token in any line of any process's log, in any Celery message (every command
on Celery's keys and channels, seen through MONITOR, message bodies decoded), or in any key Celery
keeps (result-backend keys included)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from redis.asyncio import Redis

from jobs.core.logs import CONTEXT_FIELDS
from tests.conftest import Stack, start_stack
from tests.support.auth import Caller, authorization
from tests.support.flows import render
from tests.support.gql import JOB_FIELDS, create_questionnaire, job_response, stream_of, upload_resume
from tests.support.processes import LOGS

PREFIX = "t-logs"
PERSONAL = [
    "Zephyrine Quillfeather",
    "zephyrine.quillfeather@probe-mail.example",
    "+44 20 7946 0321",
    "020 7946 0321",
    "17 Marigold Crescent",
    "HG1 2AB",
    "linkedin.com/in/zquillfeather",
    "quokka-ledger",
]
CV_TEXT = f"""{PERSONAL[0]}
{PERSONAL[1]} | {PERSONAL[2]} (home: {PERSONAL[3]})
{PERSONAL[4]}, Harrogate {PERSONAL[5]} | {PERSONAL[6]}

PROFILE
Backend developer who built the {PERSONAL[7]} reconciliation service in Python and PostgreSQL.

EXPERIENCE
Acme Payments Ltd - Senior Backend Developer (2019-2024)
- Ran the billing service in Python and PostgreSQL, 2M invoices a month.

SKILLS
Python, Docker, Kubernetes, PostgreSQL, Redis
"""
LINE_FIELDS = {"timestamp", "level", "logger", "message"}
CELERY_STOP_NOTICE = "worker: Warm shutdown (MainProcess)"
IMPROVE = f"mutation($input: ImproveCvInput!) {{ improveCv(input: $input) {{ {JOB_FIELDS} }} }}"


def _offsets(names: list[str]) -> dict[str, int]:
    """Where each process's log ends now: the logs of earlier runs are appended to."""
    paths = {name: LOGS / f"{name}.log" for name in names}
    return {name: path.stat().st_size if path.exists() else 0 for name, path in paths.items()}


def _lines_since(offsets: dict[str, int]) -> dict[str, list[str]]:
    found = {}
    for name, offset in offsets.items():
        with open(LOGS / f"{name}.log", "rb") as log:
            log.seek(offset)
            found[name] = log.read().decode("utf-8", "replace").splitlines()
    return found


def _with_bodies(text: str) -> str:
    """`text` and every base64 message body in it, decoded (kombu encodes Celery's bodies)."""
    bodies = []
    for encoded in re.findall(r'body\\*"\s*:\s*\\*"([A-Za-z0-9+/=]{8,})', text):
        with contextlib.suppress(binascii.Error, ValueError):
            bodies.append(base64.b64decode(encoded).decode("utf-8", "replace"))
    return "\n".join([text, *bodies])


@contextlib.asynccontextmanager
async def monitored(redis_url: str) -> AsyncIterator[list[str]]:
    """Every command Redis runs meanwhile on Celery's keys and channels (under PREFIX:celery:)."""
    seen: list[str] = []
    client = Redis.from_url(redis_url)

    async def watch(monitor: Any) -> None:
        async for command in monitor.listen():
            if f"{PREFIX}:celery:" in command["command"]:
                seen.append(command["command"])

    async with client.monitor() as monitor:
        watcher = asyncio.create_task(watch(monitor))
        try:
            yield seen
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    await client.aclose()


async def _celery_keys(redis: Redis) -> dict[str, str]:
    """What Celery keeps in Redis for this stack, key by key, as text."""
    kept = {}
    async for raw in redis.scan_iter(match=f"{PREFIX}:celery:*"):
        key = raw.decode()
        kind = (await redis.type(key)).decode()
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        else:
            value = await redis.smembers(key)
        kept[key] = str(value)
    return kept


async def _flow(stack: Stack, request_id: str) -> dict[str, str]:
    questionnaire = await create_questionnaire(stack.http)
    uploaded = await upload_resume(stack.http, questionnaire["id"], CV_TEXT.encode(), filename="cv.txt")
    await stream_of(stack.ws, uploaded["job"]["id"])
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            stack.http,
            json={"query": IMPROVE, "variables": {"input": {"questionnaireId": questionnaire["id"]}}},
            headers={**authorization(None), "X-Request-ID": request_id},
        )
    assert answer.headers["X-Request-ID"] == request_id
    job = answer.json()["data"]["improveCv"]
    await stream_of(stack.ws, job["id"])
    response = await job_response(stack.http, job["id"])
    assert PERSONAL[7] in response["text"], "the flow did not carry the CV's text"
    await render(stack, response["id"])
    return {"improve": job["id"]}


async def test_json_logs_carry_ids_and_no_personal_data(redis_server, workdir, redis) -> None:
    names = [f"{PREFIX}-api", f"{PREFIX}-worker"]
    offsets = _offsets(names)
    request_id = f"probe-{uuid.uuid4().hex}"
    secrets = [*PERSONAL, Caller.user, Caller.bearer]
    stack = await start_stack(
        PREFIX, redis_server.url, workdir, LOG_FORMAT="json", LOG_USER_HASH_KEY="test-key-not-secret"
    )
    try:
        async with monitored(redis_server.url) as celery_commands:
            jobs = await _flow(stack, request_id)
        kept = await _celery_keys(redis)
    finally:
        await stack.stop()
    lines = _lines_since(offsets)

    # One JSON object per line, from both processes, each with the fields every line has; but for
    # the notice a stopping worker writes itself (Celery's safe_say, outside logging).
    records = {
        name: [json.loads(line) for line in found if line.strip() and line != CELERY_STOP_NOTICE]
        for name, found in lines.items()
    }
    for found in records.values():
        assert found and all(set(r) >= LINE_FIELDS for r in found)
        assert set().union(*found) <= {*LINE_FIELDS, "exception", *CONTEXT_FIELDS}
    # The request id went from the mutation to its task; the user appears as a hash only.
    queued = [r for r in records[f"{PREFIX}-api"] if r.get("job_id") == jobs["improve"]]
    ran = [r for r in records[f"{PREFIX}-worker"] if r.get("job_id") == jobs["improve"]]
    assert queued and ran
    assert {r.get("request_id") for r in queued + ran} == {request_id}
    assert {r.get("job_kind") for r in ran} == {"IMPROVE_CV"}
    hashes = {r["user_hash"] for r in queued + ran if "user_hash" in r}
    assert len(hashes) == 1 and Caller.user not in hashes.pop()
    # Celery's messages carried the job and the request id, nothing of the CV.
    assert any(jobs["improve"] in _with_bodies(c) and request_id in c for c in celery_commands)
    assert not [k for k in kept if "celery-task-meta-" in k]

    everything = {
        **{f"log {name}": "\n".join(found) for name, found in lines.items()},
        **{f"command {i}": _with_bodies(c) for i, c in enumerate(celery_commands)},
        **{f"key {key}": _with_bodies(value) for key, value in kept.items()},
    }
    leaks = [(where, secret) for where, text in everything.items() for secret in secrets if secret in text]
    assert leaks == []

