"""LOG_FORMAT=json: the API and the worker write one JSON object per line, with the request id the
mutation's caller sent carried to the job's task, and a hash of the user id. A whole flow (upload
a CV full of contact details, improve it, analyse it, render its PDF, export the user's data), run
with both processes at their most verbose (the API at LOG_LEVEL=DEBUG with uvicorn at trace, the
worker at celery's DEBUG), leaves none of the CV's personal details, the user id or the token in
any line of any process's log, in any metric (the API's /metrics and the worker's
WORKER_METRICS_PORT, names, labels and values), in any Celery message (every command on Celery's
keys and channels, seen through MONITOR, message bodies decoded), or in any key Celery keeps
(result-backend keys included)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from redis.asyncio import Redis

from devstack.redis_server import free_port
from jobs.core.logs import CONTEXT_FIELDS
from tests.conftest import Stack, stack_env
from tests.support.auth import Caller, authorization
from tests.support.flows import render
from tests.support.gql import (
    JOB_FIELDS,
    create_questionnaire,
    execute,
    job_response,
    stream_of,
    upload_resume,
)
from tests.support.processes import LOGS, Api, start_process, wait_healthy

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
# The shortest part of a secret that counts as leaked, in characters.
FRAGMENT = 12
LINE_FIELDS = {"timestamp", "level", "logger", "message"}
CELERY_STOP_NOTICE = "worker: Warm shutdown (MainProcess)"
IMPROVE = f"mutation($input: ImproveCvInput!) {{ improveCv(input: $input) {{ {JOB_FIELDS} }} }}"
ANALYZE = "mutation($q: ID!) { analyzeCv(questionnaireId: $q) { id } }"
EXPORT = "mutation { exportMyData { downloadUrl job { id } } }"


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
    analysis = (await execute(stack.http, ANALYZE, {"q": questionnaire["id"]}))["analyzeCv"]
    await stream_of(stack.ws, analysis["id"])
    export = (await execute(stack.http, EXPORT))["exportMyData"]
    await stream_of(stack.ws, export["job"]["id"])
    async with httpx.AsyncClient(base_url=stack.api.base_url, timeout=30) as client:
        exported = await client.get(export["downloadUrl"], headers=authorization(None))
    assert exported.status_code == 200, "the flow did not export the user's data"
    return {"improve": job["id"]}


async def _verbose_stack(redis_url: str, cwd: Any, metrics_port: int, **env: str) -> Stack:
    """A stack at its most verbose: the API at LOG_LEVEL=DEBUG with uvicorn's own loggers at trace,
    the worker at celery's DEBUG (start_stack runs both at INFO)."""
    full_env = {**stack_env(redis_url, PREFIX), **env, "LOG_LEVEL": "DEBUG"}
    full_env["WORKER_METRICS_PORT"] = str(metrics_port)
    celery = [sys.executable, "-m", "celery", "-A", "jobs", "worker", "--loglevel=DEBUG", "--pool=threads"]
    worker = start_process(
        f"{PREFIX}-worker", [*celery, f"--hostname={PREFIX}-worker@%h", "--without-mingle"], full_env, cwd
    )
    port = free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "asgi:app", "--host", "127.0.0.1", "--port", str(port)]
    api = Api(start_process(f"{PREFIX}-api", [*uvicorn, "--log-level", "trace"], full_env, cwd), port)
    await wait_healthy(api)
    return Stack(PREFIX, full_env, cwd, api, [worker])


async def _metrics(stack: Stack, worker_port: int) -> dict[str, str]:
    """What both processes export to Prometheus: every metric's name, labels and value."""
    async with httpx.AsyncClient(timeout=30) as client:
        api = await client.get(f"{stack.api.base_url}/metrics")
        worker = await client.get(f"http://127.0.0.1:{worker_port}/metrics")
    assert "cvi_" in api.text and "cvi_" in worker.text
    return {"metrics api": api.text, "metrics worker": worker.text}


async def test_json_logs_carry_ids_and_no_personal_data(redis_server, workdir, redis) -> None:
    names = [f"{PREFIX}-api", f"{PREFIX}-worker"]
    offsets = _offsets(names)
    request_id = f"probe-{uuid.uuid4().hex}"
    # The token's header is every token's; its claims and signature are the caller's.
    secrets = [*PERSONAL, Caller.user, Caller.bearer.split(".", 1)[1]]
    metrics_port = free_port()
    stack = await _verbose_stack(
        redis_server.url, workdir, metrics_port, LOG_FORMAT="json", LOG_USER_HASH_KEY="test-key-not-secret"
    )
    try:
        async with monitored(redis_server.url) as celery_commands:
            jobs = await _flow(stack, request_id)
        kept = await _celery_keys(redis)
        metrics = await _metrics(stack, metrics_port)
    finally:
        await stack.stop()
    lines = _lines_since(offsets)
    # The most verbose levels were on: the API's DEBUG lines (graph/errors.py) and uvicorn's trace.
    assert '"level": "DEBUG"' in "\n".join(lines[f"{PREFIX}-worker"])
    assert '"level": "TRACE"' in "\n".join(lines[f"{PREFIX}-api"])

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
        **metrics,
    }
    leaks = [(where, secret) for where, text in everything.items() for secret in secrets if secret in text]
    assert leaks == []
    # Nor a part of one: a line cut short (a log of a WebSocket frame keeps its head and tail) still
    # gives away what it kept.
    # (Of the token, its signature: its claims are base64 of JSON, whose runs other JSON shares.)
    signature = Caller.bearer.rsplit(".", 1)[1]
    fragments = {part for secret in [*PERSONAL, Caller.user, signature] for part in _fragments(secret)}
    partial = [
        f"{where}: {line}"
        for where, text in everything.items()
        for line in text.splitlines()
        if any(part in line for part in fragments)
    ]
    assert partial == []


def _fragments(secret: str) -> set[str]:
    """A secret, and each run of FRAGMENT characters of it when it is longer."""
    if len(secret) <= FRAGMENT:
        return {secret}
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
