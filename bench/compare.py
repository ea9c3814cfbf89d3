"""This project beside two peers, in one run on one Redis: a table of ratios.

The three systems get the same jobs (offline engine, created through this project's `improveCv`
mutation) and the same number of subscribers, each in a fresh API process:

- project:  this project's API, `jobUpdates` over graphql-transport-ws (asgi.py, one Redis listener).
- tutorial: the Strawberry-tutorial pattern, bench/peers/tutorial.py: one Redis pub/sub connection per
  subscription, forwarding the events our workers publish on the job's channel.
- polling:  clients asking this project's API `job(id)` over HTTP every `--poll-interval` (500 ms), each
  poller starting at a random point of the interval; an "event" is a change of `seq` a poller sees.

Each system runs two phases, each with fresh jobs and subscribers, held in the Celery queue while the
subscribers connect and then handed to a fresh worker (2 processes) as bench/pipeline.py does:

- steady: `--jobs` released at `--release-rate` jobs/s: event latency p50/p99 (the event's `at`, Redis
  server time at publish, to client receipt; for polling, the record's `updatedAt` to the poll that saw it),
  the API's RSS per subscription (RSS after the subscribers connected minus before, over their number) and
  the Redis connections they added (INFO clients);
- burst: `--burst-jobs` released at once: events/s delivered at saturation (wall time from first to last
  receipt) and the API process's CPU per delivered event (/proc, user+system).

The measuring client is this one Python process (uvloop), offering no permessage-deflate (pollers: one
keep-alive HTTP/1.1 connection each, bench/peers/polling.py); at large sizes it
becomes the limit of the wall rate (its CPU per receipt is printed), not of the API's CPU per event.

    python bench/compare.py [--subscriptions 200] [--jobs 20] [--release-rate 10] [--burst-jobs 10]
                            [--poll-interval 0.5] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop
import websockets
from redis.asyncio import Redis
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peers.polling import lift_api_call_quota, start_pollers
from bench.pipeline import (
    HELD,
    PREFIX,
    QUERY,
    QUEUE,
    Receipts,
    cpu_seconds,
    drain,
    release,
    rss_kib,
    wait_ready,
)
from devstack.redis_server import free_port, start_redis
from tests.samples import CV
from tests.support import auth
from tests.support.gql import connection_init, improve_cv
from tests.support.processes import LOGS, Api, _spawn, start_api, start_worker, wait_healthy

PEERS = Path(__file__).resolve().parent / "peers"
SYSTEMS = ("project", "tutorial", "polling")
# A phase whose subscribers have not all finished in this long is stuck, not slow: say so rather than hang.
STALL_LIMIT = 120.0


@dataclass
class Counted(Receipts):
    """Receipts, and how many queries the pollers made to get them."""

    polls: int = 0


@dataclass
class Figures:
    """One system's figures in one run."""

    events_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    kib_per_subscription: float = 0.0
    redis_connections: float = 0.0
    cpu_us_per_event: float = 0.0
    client_cpu_us_per_receipt: float = 0.0
    events: float = 0.0


# The rows of the table: label, attribute, format.
ROWS = [
    ("events/s at saturation (burst)", "events_per_s", "{:,.0f}"),
    ("event latency p50, ms (steady)", "p50_ms", "{:.1f}"),
    ("event latency p99, ms (steady)", "p99_ms", "{:.1f}"),
    ("API RSS per subscription, KiB", "kib_per_subscription", "{:.1f}"),
    ("Redis connections added", "redis_connections", "{:.0f}"),
    ("API CPU per delivered event, us", "cpu_us_per_event", "{:.0f}"),
    ("events delivered (burst)", "events", "{:,.0f}"),
    ("client CPU per receipt, us (burst)", "client_cpu_us_per_receipt", "{:.0f}"),
]


async def open_socket(ws_url: str, job_id: str) -> websockets.ClientConnection:
    ws = await websockets.connect(
        ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None, compression=None
    )
    await ws.send(connection_init())
    assert json.loads(await asyncio.wait_for(ws.recv(), STALL_LIMIT))["type"] == "connection_ack"
    payload = {"query": QUERY, "variables": {"j": job_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    # The current state (QUEUED); a server that never answers is reported, not waited on forever.
    first = json.loads(await asyncio.wait_for(ws.recv(), STALL_LIMIT))
    assert first["type"] == "next", first
    return ws


async def subscribe_all(
    api: Api, job_ids: list[str], receipts: Counted, count: int
) -> list[asyncio.Task[None]]:
    sockets = [await open_socket(api.ws_url, job_ids[i % len(job_ids)]) for i in range(count)]
    return [asyncio.create_task(drain(ws, receipts)) for ws in sockets]


async def poll_all(
    api: Api, job_ids: list[str], receipts: Counted, count: int, interval: float, redis_url: str
) -> list[asyncio.Task[None]]:
    async with Redis.from_url(redis_url) as redis:
        await lift_api_call_quota(redis, PREFIX, auth.Caller.user)
    return await start_pollers("127.0.0.1", api.port, auth.Caller.bearer, job_ids, receipts, count, interval)


async def redis_clients(redis: Redis) -> int:
    return int((await redis.info("clients"))["connected_clients"])


@dataclass
class Stage:
    """Where a phase runs: the API that creates jobs, the API that serves the subscribers (whose CPU and
    memory are measured), and how a subscriber connects."""

    creator: Api
    served: Api
    connect: Callable[[list[str], Counted], Awaitable[list[asyncio.Task[None]]]]


async def phase(
    stage: Stage, env: dict[str, str], data: Path, name: str, jobs: int, rate: float | None, count: int
) -> tuple[Counted, float, float, int, int, float]:
    """Returns the receipts, the served API's CPU seconds and the client's, RSS delta (KiB), Redis
    connections added, and when the jobs were released."""
    redis = Redis.from_url(env["REDIS_URL"])
    cv = "\n".join(CV for _ in range(8))
    created = [await improve_cv(stage.creator.http_url, f"{cv}\nRun {name} {i}") for i in range(jobs)]
    await redis.rename(QUEUE, HELD)
    connections_before, rss_before = await redis_clients(redis), rss_kib(stage.served.proc.pid)
    receipts = Counted()
    tasks = await stage.connect([job["id"] for job in created], receipts)
    connections, rss = (
        await redis_clients(redis) - connections_before,
        rss_kib(stage.served.proc.pid) - rss_before,
    )
    worker = start_worker(f"compare-{name}-worker", env, data, pool="prefork", concurrency=2)
    try:
        # A booting worker competes for the cores; measure from when it answers.
        await asyncio.to_thread(wait_ready, env, f"compare-{name}-worker")
        cpu_before, client_before = cpu_seconds(stage.served.proc.pid), time.process_time()
        released = time.time()
        await release(redis, jobs, rate)
        done, pending = await asyncio.wait(tasks, timeout=STALL_LIMIT)
        if pending:
            raise RuntimeError(
                f"{name}: {len(pending)} of {len(tasks)} subscribers still waiting after {STALL_LIMIT:g} s "
                f"({len(receipts.times)} events received); see {LOGS}"
            )
        for task in done:
            task.result()  # a subscriber's failure is the run's
        api_cpu = cpu_seconds(stage.served.proc.pid) - cpu_before
        client_cpu = time.process_time() - client_before
    finally:
        await worker.stop()
        await redis.aclose()
    return receipts, api_cpu, client_cpu, rss, connections, released


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q) - 1)]


async def measure(
    system: str, stage: Stage, env: dict[str, str], data: Path, args: argparse.Namespace
) -> Figures:
    figures = Figures()
    receipts, _, _, rss, connections, _ = await phase(
        stage, env, data, f"{system}-steady", args.jobs, args.release_rate, args.subscriptions
    )
    figures.p50_ms = statistics.median(receipts.latencies) * 1000
    figures.p99_ms = quantile(receipts.latencies, 0.99) * 1000
    figures.kib_per_subscription = rss / args.subscriptions
    figures.redis_connections = connections
    receipts, api_cpu, client_cpu, _, _, _ = await phase(
        stage, env, data, f"{system}-burst", args.burst_jobs, None, args.subscriptions
    )
    count = len(receipts.times)
    figures.events = count
    figures.events_per_s = count / (max(receipts.times) - min(receipts.times))
    figures.cpu_us_per_event = api_cpu / count * 1e6
    figures.client_cpu_us_per_receipt = client_cpu / count * 1e6
    if system == "polling":
        print(f"  polling: {receipts.polls:,} polls in the burst for {count:,} changes seen")
    return figures


async def start_tutorial(env: dict[str, str]) -> Api:
    """bench/peers/tutorial.py under uvicorn, with the options start_api gives this project's API."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "tutorial:app", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--log-level", "warning", "--timeout-graceful-shutdown", "3"]
    api = Api(_spawn("compare-tutorial", args, env, PEERS), port)
    await wait_healthy(api)
    return api


async def one_run(env: dict[str, str], data: Path, args: argparse.Namespace) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    project = await start_api("compare-project", env, data)
    try:
        stage = Stage(project, project, lambda ids, r: subscribe_all(project, ids, r, args.subscriptions))
        results["project"] = await measure("project", stage, env, data, args)
        # The tutorial peer serves the subscribers; the jobs are still made by this project's mutation.
        tutorial = await start_tutorial(env)
        try:
            stage = Stage(
                project, tutorial, lambda ids, r: subscribe_all(tutorial, ids, r, args.subscriptions)
            )
            results["tutorial"] = await measure("tutorial", stage, env, data, args)
        finally:
            await tutorial.proc.stop()
    finally:
        await project.proc.stop()
    # A fresh API for the pollers: its memory before them is not what subscriptions left behind.
    polled = await start_api("compare-polled", env, data)
    try:
        stage = Stage(
            polled,
            polled,
            lambda ids, r: poll_all(polled, ids, r, args.subscriptions, args.poll_interval, env["REDIS_URL"]),
        )
        results["polling"] = await measure("polling", stage, env, data, args)
    finally:
        await polled.proc.stop()
    return results


def cell(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def table(runs: list[dict[str, Figures]]) -> str:
    header = ["", *SYSTEMS, "tutorial/project", "polling/project"]
    rows = [header]
    for label, attribute, fmt in ROWS:
        by_system = {s: [getattr(run[s], attribute) for run in runs] for s in SYSTEMS}
        ratios = []
        for peer in ("tutorial", "polling"):
            pairs = [(run[peer], run["project"]) for run in runs]
            if any(not getattr(o, attribute) for _, o in pairs):
                ratios.append("-")  # the project's figure is 0 (e.g. no Redis connection added)
                continue
            ratios.append(cell([getattr(p, attribute) / getattr(o, attribute) for p, o in pairs], "{:.2f}x"))
        rows.append([label, *(cell(by_system[s], fmt) for s in SYSTEMS), *ratios])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [" | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-compare-"))
    redis = start_redis(data / "redis")
    env = {
        "REDIS_URL": redis.url,
        "KEY_PREFIX": PREFIX,
        "SUBSCRIBER_QUEUE_SIZE": "1024",
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": str(max(args.jobs, args.burst_jobs)),
        "MAX_WEBSOCKETS_PER_USER": str(args.subscriptions),
        # Both WebSocket servers alike; the client offers no deflate either.
        "UVICORN_WS_PER_MESSAGE_DEFLATE": "false",
    }
    runs = []
    try:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs} ...", flush=True)
            runs.append(await one_run(env, data, args))
            if args.runs > 1:  # a later run that fails loses none of the earlier ones' figures
                print(table(runs[-1:]), flush=True)
    finally:
        redis.stop()
    sizes = (
        f"{args.subscriptions} subscribers; steady: {args.jobs} jobs at {args.release_rate:g} jobs/s; "
        f"burst: {args.burst_jobs} jobs at once; polling every {args.poll_interval * 1000:.0f} ms"
    )
    spread = " (min/median/max)" if args.runs > 1 else ""
    print(f"\n{sizes}; {args.runs} run(s){spread}\n")
    print(table(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200, help="subscribers (or pollers) per phase")
    parser.add_argument("--jobs", type=int, default=20, help="jobs of the steady phase")
    parser.add_argument("--release-rate", type=float, default=10.0, help="jobs/s in the steady phase")
    parser.add_argument(
        "--burst-jobs", type=int, default=10, help="jobs of the burst phase, released at once"
    )
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds between a poller's queries")
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat the whole comparison; cells show min/median/max"
    )
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
