"""What the worst documents cost one API process: the time from sending each to its answer.

Starts its own Redis and one API process with the default bounds, then sends every document of
tests/support/hostile_documents.py over HTTP without a token and with one, and the diamond over
a WebSocket: the worst the bounds refuse (a fragment diamond, wide aliases, repeated fields,
deep nesting, a chain of fragments, many operations, token and byte overflows, each as large as
the limits let it be), and the worst the cost rule lets through to graphql-core's validation
(and execution). Prints, per document, its size, the code it was answered with ("answered" for
data), and the best, median and worst time of `--repeat` sends. The target is under 100 ms for
each (issue 8, point 1); the machine's other load shows in the worst column.

Also prints the time to refuse a JSON body over HTTP_MAX_BODY_BYTES (30 MB sent, refused after
the first MiB) and the plan cache's bytes after 30 distinct 90 KB subscriptions.

    python bench/document_cost.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devstack.redis_server import start_redis
from tests.support import auth
from tests.support.gql import connection_init, metric
from tests.support.hostile_documents import accepted_documents, diamond, refused_documents
from tests.support.processes import start_api

PREFIX = "bench-docs"
PROTOCOLS = [Subprotocol("graphql-transport-ws")]


def _code(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    return ",".join(sorted({str(e.get("extensions", {}).get("code")) for e in errors})) or "answered"


async def _http(client: httpx.AsyncClient, url: str, query: str, token: str | None) -> tuple[float, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    response = await client.post(url, json={"query": query}, headers=headers)
    return time.perf_counter() - started, _code(response.json())


async def _ws(ws_url: str, query: str) -> tuple[float, str]:
    async with websockets.connect(ws_url, subprotocols=PROTOCOLS, max_size=None) as ws:
        await ws.send(connection_init(auth.Caller.bearer))
        json.loads(await ws.recv())
        started = time.perf_counter()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(await ws.recv())
        elapsed = time.perf_counter() - started
    payload = message.get("payload")
    errors = payload if isinstance(payload, list) else (payload or {}).get("errors", [])
    return elapsed, f"{message['type']}:" + _code({"errors": errors})


def _row(name: str, size: int, code: str, times: list[float]) -> None:
    best, median, worst = min(times) * 1000, statistics.median(times) * 1000, max(times) * 1000
    print(f"{name:58} {size:>8} B  {code:34} {best:6.1f} / {median:6.1f} / {worst:6.1f} ms")


async def _oversize_body(client: httpx.AsyncClient, url: str) -> None:
    body = json.dumps({"query": "{ __typename }", "variables": {"x": "y" * 30_000_000}}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    started = time.perf_counter()
    try:
        response = await client.post(url, content=chunks(), headers={"content-type": "application/json"})
        outcome = f"{response.status_code} {_code(response.json())}"
    except httpx.TransportError as e:  # the server may close before the client finished sending
        outcome = f"closed ({type(e).__name__})"
    _row("30 MB JSON body, no Content-Length", len(body), outcome, [time.perf_counter() - started])


async def _plan_cache(api_base: str, ws_url: str) -> None:
    async with websockets.connect(ws_url, subprotocols=PROTOCOLS, max_size=None) as ws:
        await ws.send(connection_init(auth.Caller.bearer))
        await ws.recv()
        for i in range(30):
            query = f"# {i} {'x' * 90_000}\nsubscription($j: ID!) {{ jobUpdates(jobId: $j) {{ seq }} }}"
            variables = {"j": "0d8a3a8e-7f43-4c59-9d4d-6c4b2f3c0a11"}
            payload = {"query": query, "variables": variables}
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": payload}))
            while json.loads(await ws.recv())["type"] not in {"complete", "error"}:
                pass
    size = await metric(api_base, "cvi_plan_cache_bytes")
    entries = await metric(api_base, "cvi_plan_cache_entries")
    print(f"plan cache after 30 distinct 90 KB subscriptions: {size} bytes in {entries} entries")


async def run(repeat: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-bench-docs-"))
    redis = start_redis(data / "redis")
    env = {"REDIS_URL": redis.url, "KEY_PREFIX": PREFIX, "JWT_SECRET": auth.SECRET}
    api = await start_api("bench-docs-api", env, data)
    token = auth.token("bench-docs-user")
    auth.Caller.become("bench-docs-user")
    try:
        print(f"{'document':58} {'size':>10}  {'answer':34} best / median / worst")
        documents = {f"refused: {k}": v for k, v in refused_documents().items()}
        documents |= {f"accepted: {k}": v for k, v in accepted_documents().items()}
        async with httpx.AsyncClient(timeout=120) as client:
            for name, query in documents.items():
                for label, bearer in (("", None), (", token", token)):
                    runs = [await _http(client, api.http_url, query, bearer) for _ in range(repeat)]
                    _row(name + label, len(query.encode()), runs[-1][1], [t for t, _ in runs])
            runs = [await _ws(api.ws_url, diamond(30)) for _ in range(repeat)]
            _row("diamond, 30 levels, WebSocket", len(diamond(30)), runs[-1][1], [t for t, _ in runs])
            await _oversize_body(client, api.http_url)
        await _plan_cache(api.base_url, api.ws_url)
    finally:
        await api.proc.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(run(parser.parse_args().repeat))


if __name__ == "__main__":
    main()
