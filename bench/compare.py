"""This project beside two peers, in one run on one Redis: a table of ratios.

The three systems get the same jobs (offline engine, created through this project's `improveCv`
mutation) and the same number of subscribers, each in a fresh API process:

- project:  this project's API, `jobUpdates` over graphql-transport-ws (asgi.py, one Redis listener).
- tutorial: the Strawberry-tutorial pattern, bench/peers/tutorial.py: one Redis pub/sub connection per
  subscription, forwarding the events our workers publish on the job's channel.
- polling:  clients asking this project's API `job(id)` over HTTP every `--poll-interval` (500 ms), each
  poller starting at a random point of the interval; an "event" is a change of `seq` a poller sees.

Each system runs two phases, each with fresh jobs and subscribers, held in the Celery queues while the
subscribers connect and then handed to a fresh worker (2 processes) as bench/pipeline.py does:

- steady: `--jobs` released at `--release-rate` jobs/s: event latency p50/p99 (the event's `at`, Redis
  server time at publish, to client receipt; for polling, the record's `updatedAt` to the poll that saw it),
  the API's RSS per subscription (RSS after the subscribers connected minus before, over their number) and
  the Redis connections they added (INFO clients);
- burst: `--burst-jobs` released at once: events/s delivered at saturation (wall time from first to last
  receipt) and the API process's CPU per delivered event (/proc, user+system).

The subscribers are `--clients` client processes (bench/clients.py), offering no permessage-deflate
unless `--deflate`; their CPU per receipt and the busiest one's share of a core show they were not the
limit. The pollers are this process (one keep-alive HTTP/1.1 connection each, bench/peers/polling.py);
polls the API refuses (an overloaded API runs out of Redis connections) are counted and printed.
If a phase's subscribers are not all done within 120 s, the run stops saying so and leaves a py-spy dump
and the /metrics of the API serving them in the test log directory. The machine, and its load before each
run, head the output; each cell is min/median/max over `--runs`.

    python bench/compare.py [--subscriptions 200] [--jobs 20] [--release-rate 10] [--burst-jobs 10]
                            [--poll-interval 0.5] [--runs 3] [--clients 2]
                            [--ws auto|websockets|websockets-sansio|wsproto] [--deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import uvloop
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import Clients, ProcessFigures
from bench.clients import Figures as Received
from bench.peers.polling import lift_api_call_quota, start_pollers
from bench.pipeline import (
    PREFIX,
    STALL_LIMIT,
    HeldQueues,
    add_server_options,
    cpu_seconds,
    load,
    machine,
    quantile,
    rss_kib,
    spread,
    stack_env,
    wait_ready,
)
from devstack.redis_server import free_port, start_redis
from tests.samples import CV
from tests.support import auth
from tests.support.gql import improve_cv
from tests.support.processes import LOGS, Api, start_api, start_process, start_worker, wait_healthy

PEERS = Path(__file__).resolve().parent / "peers"
SYSTEMS = ("project", "tutorial", "polling")


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
    busiest_client_core_share: float = 0.0
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
    ("busiest client process, % of a core (burst)", "busiest_client_core_share", "{:.0f}"),
]


class Subscribers(Protocol):
    """Whoever receives a phase's events: WebSocket client processes, or pollers."""

    async def mark(self) -> None: ...

    async def wait_complete(self, limit: float) -> int: ...

    async def collect(self) -> Received: ...


@dataclass
class Pollers:
    """The polling peer's clients (in this process) as Subscribers."""

    tasks: list[asyncio.Task[None]]
    latencies: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    polls: int = 0
    refused: int = 0
    cpu_mark: float = 0.0
    wall_mark: float = 0.0

    async def mark(self) -> None:
        self.latencies.clear()
        self.times.clear()
        self.polls, self.refused = 0, 0
        self.cpu_mark, self.wall_mark = time.process_time(), time.time()

    async def wait_complete(self, limit: float) -> int:
        done, pending = await asyncio.wait(self.tasks, timeout=limit)
        for task in done:
            task.result()  # a poller's failure is the run's
        return len(pending)

    async def collect(self) -> Received:
        figures = ProcessFigures(
            array("d", self.latencies).tobytes(),
            array("d", self.times).tobytes(),
            time.process_time() - self.cpu_mark,
            time.time() - self.wall_mark,
            [],
        )
        return Received(list(self.latencies), list(self.times), [figures])


Connect = Callable[[list[str]], AbstractAsyncContextManager[Subscribers]]


@asynccontextmanager
async def websocket_subscribers(
    api: Api, job_ids: list[str], args: argparse.Namespace
) -> AsyncIterator[Clients]:
    """A `jobUpdates` subscription per socket, from the client processes (bench/clients.py)."""
    async with Clients.start(
        [api.ws_url], args.subscriptions, args.clients, auth.Caller.bearer, args.deflate
    ) as clients:
        await clients.subscribe(job_ids)
        yield clients


@asynccontextmanager
async def polling_subscribers(
    api: Api, job_ids: list[str], args: argparse.Namespace, redis_url: str
) -> AsyncIterator[Pollers]:
    async with Redis.from_url(redis_url) as redis:
        await lift_api_call_quota(redis, PREFIX, auth.Caller.user)
    pollers = Pollers([])
    pollers.tasks = await start_pollers(
        "127.0.0.1", api.port, auth.Caller.bearer, job_ids, pollers, args.subscriptions, args.poll_interval
    )
    try:
        yield pollers
    finally:
        for task in pollers.tasks:
            task.cancel()
        await asyncio.gather(*pollers.tasks, return_exceptions=True)


async def redis_clients(redis: Redis) -> int:
    return int((await redis.info("clients"))["connected_clients"])


@dataclass
class Stage:
    """Where a phase runs: the API that creates jobs, the API that serves the subscribers (whose CPU and
    memory are measured), and how the subscribers connect."""

    creator: Api
    served: Api
    connect: Connect


@dataclass
class Phase:
    received: Received
    api_cpu: float
    rss_kib: int
    connections: int
    polls: int | None
    refused: int | None


async def stalled(name: str, served: Api, pending: int, received: Received) -> str:
    """What a stuck phase says, having kept a py-spy dump of the served API and its /metrics beside the
    logs for the diagnosis."""
    dump = LOGS / f"compare-stall-{name}.txt"
    py_spy = Path(sys.executable).parent / "py-spy"
    with dump.open("w") as out:
        if py_spy.exists():
            command = [str(py_spy), "dump", "--pid", str(served.proc.pid)]
            await asyncio.to_thread(subprocess.run, command, stdout=out, stderr=out)
        async with httpx.AsyncClient() as client:
            out.write((await client.get(f"{served.base_url}/metrics")).text)
    return (
        f"{name}: {pending} subscribers still waiting after {STALL_LIMIT:g} s ({received.receipts} events "
        f"received); the served API's stacks and metrics are in {dump}, the logs in {LOGS}"
    )


async def phase(
    stage: Stage, env: dict[str, str], data: Path, name: str, jobs: int, rate: float | None
) -> Phase:
    redis = Redis.from_url(env["REDIS_URL"])
    cv = "\n".join(CV for _ in range(8))
    created = [await improve_cv(stage.creator.http_url, f"{cv}\nRun {name} {i}") for i in range(jobs)]
    held = await HeldQueues.hold(redis)
    if held.tasks != jobs:  # every held task goes back; a surplus is worth knowing of
        print(f"  {name}: {held.tasks} tasks held for {jobs} jobs", flush=True)
    connections_before, rss_before = await redis_clients(redis), rss_kib(stage.served.proc.pid)
    worker_name = f"compare-{name}-worker"
    try:
        async with stage.connect([job["id"] for job in created]) as subscribers:
            connections = await redis_clients(redis) - connections_before
            rss = rss_kib(stage.served.proc.pid) - rss_before
            worker = start_worker(worker_name, env, data, pool="prefork", concurrency=2)
            try:
                # A booting worker competes for the cores; measure from when it answers.
                await asyncio.to_thread(wait_ready, env, worker_name)
                await subscribers.mark()
                cpu_before = cpu_seconds(stage.served.proc.pid)
                await held.release(rate)
                pending = await subscribers.wait_complete(STALL_LIMIT)
                api_cpu = cpu_seconds(stage.served.proc.pid) - cpu_before
                received = await subscribers.collect()
                if pending:
                    raise RuntimeError(await stalled(name, stage.served, pending, received))
            finally:
                await worker.stop()
            polls, refused = (
                (subscribers.polls, subscribers.refused) if isinstance(subscribers, Pollers) else (None, None)
            )
    finally:
        await redis.aclose()
    if refused:
        print(f"  {name}: the API refused {refused:,} of {polls:,} polls", flush=True)
    return Phase(received, api_cpu, rss, connections, polls, refused)


async def measure(
    system: str, stage: Stage, env: dict[str, str], data: Path, args: argparse.Namespace
) -> Figures:
    figures = Figures()
    steady = await phase(stage, env, data, f"{system}-steady", args.jobs, args.release_rate)
    figures.p50_ms = statistics.median(steady.received.latencies) * 1000
    figures.p99_ms = quantile(steady.received.latencies, 0.99) * 1000
    figures.kib_per_subscription = steady.rss_kib / args.subscriptions
    figures.redis_connections = steady.connections
    burst = await phase(stage, env, data, f"{system}-burst", args.burst_jobs, None)
    received = burst.received
    figures.events = received.receipts
    figures.events_per_s = received.receipts / (max(received.times) - min(received.times))
    figures.cpu_us_per_event = burst.api_cpu / received.receipts * 1e6
    figures.client_cpu_us_per_receipt = received.cpu_us_per_receipt
    figures.busiest_client_core_share = received.busiest_cpu_share * 100
    if burst.polls is not None:
        print(f"  polling: {burst.polls:,} polls in the burst for {received.receipts:,} changes seen")
    return figures


async def start_tutorial(env: dict[str, str]) -> Api:
    """bench/peers/tutorial.py under uvicorn, with the options start_api gives this project's API (the
    UVICORN_* variables of `env` apply to both)."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "tutorial:app", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--log-level", "warning", "--timeout-graceful-shutdown", "3"]
    api = Api(start_process("compare-tutorial", args, env, PEERS), port)
    await wait_healthy(api)
    return api


async def one_run(env: dict[str, str], data: Path, args: argparse.Namespace) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    project = await start_api("compare-project", env, data)
    try:
        stage = Stage(project, project, lambda ids: websocket_subscribers(project, ids, args))
        results["project"] = await measure("project", stage, env, data, args)
        # The tutorial peer serves the subscribers; the jobs are still made by this project's mutation.
        tutorial = await start_tutorial(env)
        try:
            stage = Stage(project, tutorial, lambda ids: websocket_subscribers(tutorial, ids, args))
            results["tutorial"] = await measure("tutorial", stage, env, data, args)
        finally:
            await tutorial.proc.stop()
    finally:
        await project.proc.stop()
    # A fresh API for the pollers: its memory before them is not what subscriptions left behind.
    polled = await start_api("compare-polled", env, data)
    try:
        stage = Stage(polled, polled, lambda ids: polling_subscribers(polled, ids, args, env["REDIS_URL"]))
        results["polling"] = await measure("polling", stage, env, data, args)
    finally:
        await polled.proc.stop()
    return results


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
            ratios.append(
                spread([getattr(p, attribute) / getattr(o, attribute) for p, o in pairs], "{:.2f}x")
            )
        rows.append([label, *(spread(by_system[s], fmt) for s in SYSTEMS), *ratios])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [" | ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-compare-"))
    redis = start_redis(data / "redis")
    env = stack_env(redis.url, args)  # the tutorial's uvicorn reads its UVICORN_* options too
    print(machine())
    print(f"options: {vars(args)}")
    runs: list[dict[str, Figures]] = []
    try:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}: {load()}", flush=True)
            runs.append(await one_run(env, data, args))
            if args.runs > 1:  # a later run that fails loses none of the earlier ones' figures
                print(table(runs[-1:]), flush=True)
    finally:
        redis.stop()
    sizes = (
        f"{args.subscriptions} subscribers; steady: {args.jobs} jobs at {args.release_rate:g} jobs/s; "
        f"burst: {args.burst_jobs} jobs at once; polling every {args.poll_interval * 1000:.0f} ms"
    )
    over = " (min/median/max)" if args.runs > 1 else ""
    print(f"\n{sizes}; {args.runs} run(s){over}\n")
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
        "--runs", type=int, default=3, help="repeat the whole comparison; cells show min/median/max"
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes (bench/clients.py)")
    add_server_options(parser)
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
