"""Pipeline benchmark: N live subscriptions over M offline-engine jobs on one API process.

Starts its own Redis, API and (after every subscription is open) a Celery worker, so that all
events are delivered live. Prints: event latency from the worker's publish (the event's `at`,
Redis server time) to client receipt (p50, p99), events/s delivered by the API process, jobs/s
completed, and the API process's RSS per open subscription.

    python bench/pipeline.py [--subscriptions 1000] [--jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devstack.redis_server import start_redis
from tests.samples import CV
from tests.support.gql import improve_cv
from tests.support.processes import start_api, start_worker

QUERY = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq type state delta at } }"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_subscription(ws_url: str, job_id: str):
    ws = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], max_size=None)
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"j": job_id}}})
    )
    first = json.loads(await ws.recv())  # the current state: QUEUED
    assert first["type"] == "next", first
    return ws


async def drain(ws, latencies: list[float], receipts: list[float]) -> None:
    async for raw in ws:
        now = time.time()
        message = json.loads(raw)
        if message["type"] != "next":
            break
        event = message["payload"]["data"]["jobUpdates"]
        latencies.append(now - datetime.fromisoformat(event["at"]).timestamp())
        receipts.append(now)
    await ws.close()


async def run(subscriptions: int, jobs: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-bench-"))
    redis = start_redis(data / "redis")
    env = {"REDIS_URL": redis.url, "KEY_PREFIX": "bench", "SUBSCRIBER_QUEUE_SIZE": "1024"}
    api = await start_api("bench-api", env, data)
    worker = None
    try:
        cv = "\n".join(CV for _ in range(8))
        created = [await improve_cv(api.http_url, f"{cv}\nRun {i}") for i in range(jobs)]
        rss_before = rss_kib(api.proc.pid)
        sockets = []
        for i in range(subscriptions):
            sockets.append(await open_subscription(api.ws_url, created[i % jobs]["id"]))
        rss_after = rss_kib(api.proc.pid)
        latencies: list[float] = []
        receipts: list[float] = []
        drains = [asyncio.create_task(drain(ws, latencies, receipts)) for ws in sockets]
        started = time.time()
        cpu_before = cpu_seconds(api.proc.pid)
        worker = start_worker("bench-worker", env, data, pool="prefork", concurrency=2)
        await asyncio.gather(*drains)
        duration = max(receipts) - min(receipts)
        api_cpu = cpu_seconds(api.proc.pid) - cpu_before
        latencies.sort()
        print(f"subscriptions           {subscriptions} over {jobs} jobs")
        print(f"events delivered        {len(latencies)}")
        print(f"latency p50             {statistics.median(latencies) * 1000:.1f} ms")
        print(f"latency p99             {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")
        print(f"events/s delivered      {len(latencies) / duration:,.0f} (one API process)")
        print(
            f"API CPU per delivery    {api_cpu / len(latencies) * 1e6:.0f} µs "
            f"({api_cpu:.1f} s CPU over {duration:.1f} s)"
        )
        print(
            f"jobs/s completed        {jobs / (max(receipts) - started):.1f} (one worker, 2 processes,"
            " including its start-up)"
        )
        print(
            f"API RSS per subscription {(rss_after - rss_before) / subscriptions:.1f} KiB "
            f"(API RSS {rss_after / 1024:.0f} MiB)"
        )
    finally:
        if worker is not None:
            await worker.stop()
        await api.proc.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.subscriptions, args.jobs))


if __name__ == "__main__":
    main()
