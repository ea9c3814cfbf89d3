"""Pipeline benchmark: N live subscriptions over M offline-engine jobs on one API process.

Starts its own Redis and API, creates the jobs through the mutation, opens every subscription,
then starts a Celery worker and hands it the jobs, so that every event is delivered live. Two
phases, each with fresh jobs and subscriptions:

- steady: the jobs reach the worker at a fixed rate (`--release-rate` jobs/s, 50 by default), as work arrives
  in production; prints the event latency from the worker's publish (the event's `at`, Redis
  server time) to client receipt, p50 / p99 / max; next to it, the same quantiles from the API's
  own histogram (cvi_event_delivery_lag_seconds: to the frame written, interpolated in its buckets).
- burst: all jobs (`--burst-jobs`, 50 by default: 20 subscribers each) reach the worker at
  once; prints how many events/s the one API process delivered, its CPU per delivered event,
  and jobs/s completed. Fewer jobs than subscriptions' worth keeps the two worker processes
  from being the limit: each event they publish is delivered 20 times.

Also printed: the API process's RSS per open subscription (first phase), and the client's own
CPU per receipt (it shares the machine's two cores with the API, the worker and Redis).

The jobs are paced without touching the service: while no worker runs, the mutation's tasks wait
in the Celery queue (a Redis list); the bench moves them aside and gives them back at the rate.

    python bench/pipeline.py [--subscriptions 1000] [--jobs 100] [--release-rate 50]
                             [--burst-jobs 50] [--no-deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import uvloop
import websockets
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devstack.redis_server import start_redis
from jobs.celery import create_celery
from settings import Settings
from tests.samples import CV
from tests.support import auth
from tests.support.gql import connection_init, improve_cv
from tests.support.processes import Api, start_api, start_worker

QUERY = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq type state delta at } }"
PREFIX = "bench"
# kombu's Redis transport keeps a queue as a list named after it, under the global key prefix.
QUEUE = f"{PREFIX}:celery:{PREFIX}.jobs"
HELD = f"{QUEUE}:held-by-bench"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_subscription(ws_url: str, job_id: str):
    # permessage-deflate stays on, as browsers negotiate it.
    ws = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], max_size=None)
    await ws.send(connection_init())
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"j": job_id}}})
    )
    first = json.loads(await ws.recv())  # the current state: QUEUED
    assert first["type"] == "next", first
    return ws


@dataclass
class Receipts:
    latencies: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


async def drain(ws, receipts: Receipts) -> None:
    async for raw in ws:
        now = time.time()
        message = json.loads(raw)
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))  # as graphql-ws clients do
            continue
        if message["type"] != "next":
            break
        event = message["payload"]["data"]["jobUpdates"]
        receipts.latencies.append(now - datetime.fromisoformat(event["at"]).timestamp())
        receipts.times.append(now)
    await ws.close()


async def release(redis: Redis, jobs: int, rate: float | None) -> None:
    """Give the held tasks back to the worker's queue, oldest first, `rate` per second."""
    start = time.monotonic()
    for i in range(jobs):
        if rate is not None:
            # Pacing is the point here: there is no event to wait for.
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        await redis.lmove(HELD, QUEUE, "RIGHT", "LEFT")


def wait_ready(env: dict[str, str], name: str) -> None:
    control = create_celery(Settings(redis_url=env["REDIS_URL"], key_prefix=PREFIX)).control
    for _ in range(60):
        if control.ping(destination=[f"{name}@{socket.gethostname()}"], timeout=1.0):
            return
    raise RuntimeError(f"{name} did not answer a ping")


async def lag_buckets(api: Api) -> dict[float, float]:
    """The API's delivery-lag histogram over WebSocket: cumulative count per upper bound."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{api.base_url}/metrics")).text
    return {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "cvi_event_delivery_lag_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket") and sample.labels["protocol"] == "websocket"
    }


def bucket_quantile(buckets: dict[float, float], q: float) -> float:
    """As Prometheus's histogram_quantile: linear within the bucket the rank falls in."""
    rank, lower, below = q * buckets[float("inf")], 0.0, 0.0
    for bound in sorted(buckets):
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


async def phase(
    name: str, api: Api, env: dict[str, str], data: Path, args, jobs: int, rate: float | None
) -> None:
    redis = Redis.from_url(env["REDIS_URL"])
    cv = "\n".join(CV for _ in range(8))
    created = [await improve_cv(api.http_url, f"{cv}\nRun {i}") for i in range(jobs)]
    await redis.rename(QUEUE, HELD)
    rss_before = rss_kib(api.proc.pid)
    sockets = [
        await open_subscription(api.ws_url, created[i % jobs]["id"]) for i in range(args.subscriptions)
    ]
    rss_after = rss_kib(api.proc.pid)
    receipts = Receipts()
    drains = [asyncio.create_task(drain(ws, receipts)) for ws in sockets]
    worker = start_worker(f"bench-{name}-worker", env, data, pool="prefork", concurrency=2)
    try:
        # A booting worker competes for the cores; measure from when it answers.
        await asyncio.to_thread(wait_ready, env, f"bench-{name}-worker")
        lag_before = await lag_buckets(api)
        cpu_before, client_before = cpu_seconds(api.proc.pid), time.process_time()
        released = time.time()
        await release(redis, jobs, rate)
        await asyncio.gather(*drains)
        api_cpu = cpu_seconds(api.proc.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        lag = {bound: count - lag_before[bound] for bound, count in (await lag_buckets(api)).items()}
    finally:
        await worker.stop()
        await redis.aclose()
    report(name, args, jobs, rate, receipts, released, api_cpu, client_cpu, rss_after - rss_before, rss_after)
    p50, p99 = (bucket_quantile(lag, q) * 1000 for q in (0.5, 0.99))
    print(
        f"API histogram p50 / p99  {p50:.1f} / {p99:.1f} ms "
        f"({lag[float('inf')]:.0f} frames; publish -> frame written, by its buckets)"
    )


def report(name, args, jobs, rate, receipts: Receipts, released, api_cpu, client_cpu, rss_delta, rss) -> None:
    latencies = sorted(receipts.latencies)
    count = len(latencies)
    duration = max(receipts.times) - min(receipts.times)
    pace = "all at once" if rate is None else f"{rate:g} jobs/s"
    print(f"\n== {name}: {args.subscriptions} subscriptions over {jobs} jobs, released {pace}")
    print(f"events delivered         {count} in {duration:.2f} s")
    print(
        f"latency p50 / p99 / max  {statistics.median(latencies) * 1000:.1f} / "
        f"{latencies[int(count * 0.99) - 1] * 1000:.1f} / {latencies[-1] * 1000:.1f} ms"
    )
    print(f"events/s delivered       {count / duration:,.0f} (one API process)")
    print(f"API CPU per delivery     {api_cpu / count * 1e6:.0f} µs ({api_cpu:.2f} s CPU)")
    print(f"client CPU per receipt   {client_cpu / count * 1e6:.0f} µs (the bench's own process)")
    print(f"jobs/s completed         {jobs / (max(receipts.times) - released):.1f} (one worker, 2 processes)")
    if name == "steady":  # the first phase: later ones reuse the memory it freed
        per_subscription = rss_delta / args.subscriptions
        print(f"API RSS per subscription {per_subscription:.1f} KiB (API RSS {rss / 1024:.0f} MiB)")


async def run(args) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-bench-"))
    redis = start_redis(data / "redis")
    env = {
        "REDIS_URL": redis.url,
        "KEY_PREFIX": PREFIX,
        "SUBSCRIBER_QUEUE_SIZE": "1024",
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": str(max(args.jobs, args.burst_jobs)),
        "MAX_WEBSOCKETS_PER_USER": str(args.subscriptions),
    }
    if not args.deflate:
        # uvicorn reads its options from UVICORN_* variables too.
        env["UVICORN_WS_PER_MESSAGE_DEFLATE"] = "false"
    api = await start_api("bench-api", env, data)
    try:
        await phase("steady", api, env, data, args, args.jobs, args.release_rate)
        await phase("burst", api, env, data, args, args.burst_jobs, None)
    finally:
        await api.proc.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--release-rate", type=float, default=50.0, help="jobs/s in the steady phase")
    parser.add_argument(
        "--burst-jobs",
        type=int,
        default=50,
        help="jobs of the burst phase: fewer jobs, more subscribers each, so that the worker's "
        "output is not what limits the API's delivery rate",
    )
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="run the API with WebSocket permessage-deflate off (uvicorn --ws-per-message-deflate false)",
    )
    # uvloop keeps the measuring client's own cost per receipt down.
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
