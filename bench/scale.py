"""Scale: 20,000 subscriptions on one API process, then on two beside each other; Redis's share.

Each part starts its own Redis, API(s) and worker(s), creates `--jobs` offline-engine jobs through the
mutation, holds them in the Celery queues (bench/pipeline.py's HeldQueues), opens `--sockets` sockets
with `--per-socket` `jobUpdates` subscriptions each from `--clients` client processes (bench/clients.py;
socket i holds jobs i .. i+per_socket-1), then starts the workers and gives the jobs back:

- single: one API process (one worker, 2 processes). The API's RSS as the sockets open with one
  subscription each (KiB per idle socket with one subscription), then as each gets the others (KiB per
  further subscription); a steady round (the jobs at `--release-rate` jobs/s): event latency p50/p99 (the
  event's `at`, Redis time at publish, to receipt) and the API's CPU per delivered event; a burst round
  (jobs created and held with the first, the same sockets' subscriptions renewed on them, all
  released at once): events/s.
- scaleout: two API processes and two workers (2 processes each) on one Redis, the sockets alternating
  between the APIs; the same two rounds: events/s, p50/p99, each API's CPU per delivered event, and
  Redis's CPU (INFO cpu, used_cpu_user + used_cpu_sys) per PUBLISH (INFO commandstats) and per delivered
  event.
- fanout: Redis's CPU per PUBLISH of an event-sized message on a channel with 1, 10, 100, 1,000
  subscribing connections (bench/workers.py's fanout_run). An API process holds ONE Redis subscription
  per job channel however many of its sockets follow the job, so the fan-out Redis pays is per API
  process, not per socket: with two APIs, a job's channel has at most two subscribers.

The file-descriptor limit is raised to its hard limit in this process before the APIs start (they inherit
it) and in every client process; the bench checks each API's limit (/proc/<pid>/limits) holds its sockets.
The machine, and its load before each run, head the output; figures are min/median/max over `--runs`.

    python bench/scale.py [--sockets 5000] [--per-socket 4] [--jobs 200] [--release-rate 10]
                          [--clients 2] [--runs 3] [--only single,scaleout,fanout]
                          [--ws auto|websockets|websockets-sansio|wsproto] [--deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import Clients, Figures, raise_nofile
from bench.pipeline import (
    HeldQueues,
    add_server_options,
    cpu_seconds,
    load,
    machine,
    quantile,
    rss_kib,
    server_env,
    spread,
    wait_ready,
)
from bench.workers import fanout_run
from devstack.redis_server import RedisServer, start_redis
from tests.samples import CV
from tests.support import auth
from tests.support.gql import improve_cv
from tests.support.processes import Api, Proc, start_api, start_worker

PREFIX = "bench"  # pipeline's wait_ready pings the workers of this prefix
# Twenty thousand subscriptions take longer to finish than the pipeline's two hundred: stuck means this.
STALL_LIMIT = 600.0
# Jobs the mutation creates at once (keeps the API's event loop and the bench's from queueing thousands).
CREATE_BATCH = 20


def open_files_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise RuntimeError("no open-files limit")


async def create_jobs(api: Api, count: int, label: str) -> list[str]:
    cv = "\n".join(CV for _ in range(8))
    ids: list[str] = []
    for start in range(0, count, CREATE_BATCH):
        batch = range(start, min(count, start + CREATE_BATCH))
        created = await asyncio.gather(*(improve_cv(api.http_url, f"{cv}\nScale {label} {i}") for i in batch))
        ids += [job["id"] for job in created]
    return ids


async def redis_cpu_and_publishes(redis: Redis) -> tuple[float, int]:
    """Redis's CPU seconds so far, and the PUBLISHes it has run (the emit script's included)."""
    cpu = await redis.info("cpu")
    stats = await redis.info("commandstats")
    publishes = int(stats.get("cmdstat_publish", {}).get("calls", 0))
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), publishes


@dataclass
class Round:
    """One round's figures: what the clients got, each API's CPU, Redis's CPU and PUBLISHes."""

    received: Figures
    api_cpu: list[float]
    redis_cpu: float
    publishes: int

    def figures(self, prefix: str) -> dict[str, float]:
        received = self.received
        span = max(received.times) - min(received.times)
        events = received.receipts
        return {
            f"{prefix} events": events,
            f"{prefix} events/s": events / span,
            f"{prefix} p50 ms": statistics.median(received.latencies) * 1000,
            f"{prefix} p99 ms": quantile(received.latencies, 0.99) * 1000,
            f"{prefix} API CPU per event us (all APIs)": sum(self.api_cpu) / events * 1e6,
            f"{prefix} Redis CPU per PUBLISH us": self.redis_cpu / max(1, self.publishes) * 1e6,
            f"{prefix} Redis CPU per delivered event us": self.redis_cpu / events * 1e6,
            f"{prefix} PUBLISHes": self.publishes,
            f"{prefix} client CPU per receipt us": received.cpu_us_per_receipt,
            f"{prefix} busiest client % of a core": received.busiest_cpu_share * 100,
        }


async def deliver(
    apis: list[Api], clients: Clients, redis: Redis, held: HeldQueues, rate: float | None
) -> Round:
    await clients.mark()
    api_before = [cpu_seconds(api.proc.pid) for api in apis]
    redis_before, publishes_before = await redis_cpu_and_publishes(redis)
    await held.release(rate)
    pending = await clients.wait_complete(STALL_LIMIT)
    api_cpu = [cpu_seconds(api.proc.pid) - before for api, before in zip(apis, api_before, strict=True)]
    redis_after, publishes_after = await redis_cpu_and_publishes(redis)
    received = await clients.collect()
    if pending:
        raise RuntimeError(
            f"{pending} subscriptions still open after {STALL_LIMIT:g} s ({received.receipts} events)"
        )
    return Round(received, api_cpu, redis_after - redis_before, publishes_after - publishes_before)


async def part(args: argparse.Namespace, data: Path, api_count: int) -> dict[str, float]:
    """One run of `single` (one API) or `scaleout` (two APIs, two workers)."""
    server = start_redis(data / f"redis-{time.monotonic_ns()}")  # fresh: no quota or job of a former run
    env = {
        "REDIS_URL": server.url,
        "KEY_PREFIX": PREFIX,
        "SUBSCRIBER_QUEUE_SIZE": "1024",
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": str(2 * args.jobs + 10),
        "MAX_WEBSOCKETS_PER_USER": str(args.sockets + 10),
        **server_env(args),
    }
    apis: list[Api] = []
    workers: list[Proc] = []
    redis = Redis.from_url(server.url)
    figures: dict[str, float] = {}
    try:
        for number in range(api_count):
            apis.append(await start_api(f"scale-api-{number}", env, data))
            limit = open_files_limit(apis[-1].proc.pid)
            if limit < args.sockets // api_count + 1000:
                raise RuntimeError(f"the API may open {limit} files, fewer than its share of the sockets")
        # Both rounds' jobs before any worker runs, each round's tasks held apart.
        steady_jobs = await create_jobs(apis[0], args.jobs, "steady")
        steady_held = await HeldQueues.hold(redis, PREFIX, "-steady")
        burst_jobs = await create_jobs(apis[0], args.jobs, "burst")
        burst_held = await HeldQueues.hold(redis, PREFIX, "-burst")
        rss_before = [rss_kib(api.proc.pid) for api in apis]
        async with Clients.start(
            [api.ws_url for api in apis], args.sockets, args.clients, auth.Caller.bearer, args.deflate
        ) as clients:
            await clients.subscribe(steady_jobs, 1)
            rss_one = [rss_kib(api.proc.pid) for api in apis]
            await clients.subscribe(steady_jobs, args.per_socket - 1, first_slot=1)
            rss_all = [rss_kib(api.proc.pid) for api in apis]
            figures["KiB per idle socket with 1 subscription"] = (
                sum(rss_one) - sum(rss_before)
            ) / args.sockets
            further = args.sockets * (args.per_socket - 1)
            if further:
                figures["KiB per further subscription"] = (sum(rss_all) - sum(rss_one)) / further
            figures["API RSS MiB (each)"] = max(rss_all) / 1024
            for number in range(api_count):
                name = f"scale-worker-{number}"
                workers.append(start_worker(name, env, data, pool="prefork", concurrency=2))
                # A booting worker competes for the cores; measure from when it answers.
                await asyncio.to_thread(wait_ready, env, name)
            steady = await deliver(apis, clients, redis, steady_held, args.release_rate)
            figures |= steady.figures("steady")
            # The same sockets, their slots renewed on the burst's jobs (still queued: their tasks are held).
            await clients.subscribe(burst_jobs, args.per_socket)
            burst = await deliver(apis, clients, redis, burst_held, None)
            figures |= burst.figures("burst")
    finally:
        for worker in workers:
            await worker.stop()
        for api in apis:
            await api.proc.stop()
        await redis.aclose()
        server.stop()
    return figures


def fanout(server: RedisServer, args: argparse.Namespace) -> None:
    print("\n== fanout: Redis CPU per PUBLISH (~300 B) by subscribing connections (min/median/max)")
    print("   (an API process is ONE subscribing connection per job channel, whatever its sockets)")
    for subscribers in (1, 10, 100, 1000):
        runs = [fanout_run(server, subscribers, args.publishes, 300) for _ in range(args.runs)]
        cpu = spread([run["redis_cpu"] for run in runs])
        print(f"   {subscribers:>5} subscribers: {cpu} us of Redis CPU per PUBLISH", flush=True)


def report(title: str, runs: list[dict[str, float]]) -> None:
    print(f"\n== {title} ({len(runs)} runs, min/median/max)")
    for key in runs[0]:
        print(f"   {key:48} {spread([run[key] for run in runs], '{:,.1f}')}")


async def run(args: argparse.Namespace) -> None:
    print(machine())
    print(f"options: {vars(args)}; open files allowed here: {raise_nofile()}")
    data = Path(tempfile.mkdtemp(prefix="cvi-scale-"))
    parts = {"single": 1, "scaleout": 2}
    for name, api_count in parts.items():
        if name not in args.only:
            continue
        runs = []
        for number in range(args.runs):
            print(f"{name} run {number + 1} of {args.runs}: {load()}", flush=True)
            runs.append(await part(args, data, api_count))
            print("   " + ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].items()), flush=True)
        report(
            f"{name}: {api_count} API process(es), {api_count} worker(s) x 2 processes, {args.sockets} "
            f"sockets x {args.per_socket} = {args.sockets * args.per_socket} subscriptions, {args.jobs} jobs",
            runs,
        )
    if "fanout" in args.only:
        print(load())
        server = start_redis(data / "redis-fanout")
        try:
            fanout(server, args)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--per-socket", type=int, default=4, help="subscriptions per socket")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per round (steady, then burst)")
    parser.add_argument("--release-rate", type=float, default=10.0, help="jobs/s in the steady round")
    parser.add_argument("--clients", type=int, default=2, help="client processes (bench/clients.py)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--publishes", type=int, default=500, help="PUBLISHes per fan-out measurement")
    parser.add_argument("--only", default="single,scaleout,fanout")
    add_server_options(parser)
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
