"""The polling peer for bench/compare.py: clients asking this project's API `job(id)` every 500 ms.

Each poller holds one keep-alive HTTP/1.1 connection of its own, as a browser tab would, and speaks it
over asyncio streams: a general-purpose client (httpx) costs the measuring process several milliseconds
per request at a few hundred connections, which would make the bench measure its client, not the API.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import datetime, timedelta
from typing import Any, Protocol

from redis.asyncio import Redis

from jobs.core.names import Keys
from jobs.core.quotas import QUOTAS, Scope, utcnow

QUERY = "query($id: ID!) { job(id: $id) { seq state updatedAt } }"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


class Seen(Protocol):
    """What the pollers saw: per change of `seq`, its latency (from the record's updatedAt) and time; the
    polls made, and those the API refused."""

    latencies: list[float]
    times: list[float]
    polls: int
    refused: int


class Connection:
    """One keep-alive HTTP/1.1 connection posting GraphQL to /graphql."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        self._reader, self._writer, self._head = reader, writer, head

    @classmethod
    async def open(cls, host: str, port: int, bearer: str) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {bearer}\r\n"
        ).encode()
        return cls(reader, writer, head)

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        """The answer's data, or None if the API refused the query (an error status or GraphQL errors:
        an overloaded API does, and the pollers go on as a client would)."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        self._writer.write(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, *headers = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        lengths = [h.split(":", 1)[1] for h in headers if h.lower().startswith("content-length:")]
        if not lengths:
            raise RuntimeError(f"a response without Content-Length: {status} {headers}")
        answer: dict[str, Any] = json.loads(await self._reader.readexactly(int(lengths[0])))
        if not status.startswith("HTTP/1.1 200") or answer.get("errors"):
            return None
        data: dict[str, Any] = answer["data"]
        return data

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


async def poll(
    connection: Connection, job_id: str, seen: Seen, interval: float, ready: asyncio.Event
) -> None:
    """One polling client: `job(id)` every `interval` until the job finishes."""
    # Pollers are not synchronised in the wild: each starts somewhere in the interval.
    await asyncio.sleep(random.uniform(0, interval))
    last: int | None = None
    due = time.monotonic()
    try:
        while True:
            data = await connection.execute(QUERY, {"id": job_id})
            now = time.time()
            seen.polls += 1
            if data is None:
                seen.refused += 1
            else:
                job = data["job"]
                if last is None:
                    ready.set()
                elif job["seq"] > last:
                    seen.latencies.append(now - datetime.fromisoformat(job["updatedAt"]).timestamp())
                    seen.times.append(now)
                last = job["seq"]
                if job["state"] in TERMINAL:
                    return
            # Pacing is what a poller is: there is no event to await.
            due = max(due + interval, time.monotonic())
            await asyncio.sleep(due - time.monotonic())
    finally:
        await connection.close()


async def lift_api_call_quota(redis: Redis, prefix: str, user: str) -> None:
    """Let `user` poll past the hourly API-call quota (Premium: 1,200; a poller at 2/s spends it in 10
    minutes). Every poll is still charged, so the charge stays in the API's CPU: the counter of this hour
    and the next starts so far below zero that it never reaches the limit."""
    quota = QUOTAS[Scope.API_CALLS]
    for now in (utcnow(), utcnow() + timedelta(hours=1)):
        window, resets = quota.window(now)
        key = Keys(prefix).quota(Scope.API_CALLS.value, user, window)
        await redis.set(key, -(10**12), exat=int(resets.timestamp()))


async def start_pollers(
    host: str, port: int, bearer: str, job_ids: list[str], seen: Seen, count: int, interval: float
) -> list[asyncio.Task[None]]:
    """`count` pollers over `job_ids` in turn; returns once each has had its first answer."""
    connections = [await Connection.open(host, port, bearer) for _ in range(count)]
    ready = [asyncio.Event() for _ in range(count)]
    tasks = [
        asyncio.create_task(poll(connections[i], job_ids[i % len(job_ids)], seen, interval, ready[i]))
        for i in range(count)
    ]
    await asyncio.gather(*(event.wait() for event in ready))
    return tasks
