"""Pipeline benchmark: N live subscriptions over M offline-engine jobs on one API process.

Starts its own Redis and, per run, a fresh API; creates the jobs through the mutation, opens every
subscription from `--clients` client processes (bench/clients.py: the client is not the bottleneck;
their CPU per receipt and the busiest one's share of a core are printed), then starts a Celery worker
and hands it the jobs, so that every event is delivered live. Two phases, each with fresh jobs and
subscriptions:

- steady: the jobs reach the worker at a fixed rate (`--release-rate` jobs/s, 50 by default), as work arrives
  in production; prints the event latency from the worker's publish (the event's `at`, Redis
  server time) to client receipt, p50 / p99 / max; next to it, the same quantiles from the API's
  own histogram (cvi_event_delivery_lag_seconds: to the frame written, interpolated in its buckets).
- burst: all jobs (`--burst-jobs`, 50 by default: 20 subscribers each) reach the worker at
  once; prints how many events/s the one API process delivered, its CPU per delivered event,
  and jobs/s completed. Fewer jobs than subscriptions' worth keeps the two worker processes
  from being the limit: each event they publish is delivered 20 times.

Also printed: the API process's RSS per open subscription (first phase). With `--runs` above 1, each
figure's min/median/max over the runs; the machine and its load before each run head the output.

The jobs are paced without touching the service: while no worker runs, the mutation's tasks wait
in the Celery queues (Redis lists); the bench moves every one of them aside (HeldQueues) and gives the
tasks back to the same lists at the rate.

    python bench/pipeline.py [--subscriptions 1000] [--jobs 100] [--release-rate 50] [--burst-jobs 50]
                             [--clients 2] [--runs 3] [--ws auto|websockets|websockets-sansio|wsproto]
                             [--deflate | --no-deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvloop
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import Clients, Figures
from devstack.redis_server import start_redis
from jobs.celery import create_celery
from settings import Settings
from tests.samples import CV
from tests.support import auth
from tests.support.gql import improve_cv
from tests.support.processes import LOGS, Api, start_api, start_worker

PREFIX = "bench"
# A phase whose subscribers have not all finished in this long is stuck, not slow: say so rather than hang.
STALL_LIMIT = 120.0


def queue_pattern(prefix: str) -> str:
    """kombu's Redis transport keeps a queue as a list named after it under the global key prefix; the
    job queues are named `<prefix>.jobs...` (one, or one per plan), each priority a list of its own
    (`<queue>\\x06\\x16<n>`)."""
    return f"{prefix}:celery:{prefix}.jobs*"


@dataclass
class HeldQueues:
    """The tasks of every job queue, moved aside while no worker runs, then given back at a rate."""

    redis: Redis
    # (the queue's list, where its tasks wait meanwhile, how many)
    lists: list[tuple[str, str, int]]

    @classmethod
    async def hold(cls, redis: Redis, prefix: str = PREFIX, tag: str = "") -> HeldQueues:
        """Every task now in the job queues, aside; `tag` keeps one holding apart from another."""
        lists = []
        async for key in redis.scan_iter(match=queue_pattern(prefix), count=1000):
            # Only the queues' lists: kombu's bindings are sets, and nothing else may match.
            if await redis.type(key) != b"list":
                continue
            name = key.decode()  # queue names are ASCII (a priority's separators included)
            held = f"{prefix}:held-by-bench{tag}:{name}"
            count = await redis.llen(name)
            await redis.rename(name, held)
            lists.append((name, held, count))
        if not lists:
            raise RuntimeError(f"no queued task under {queue_pattern(prefix)}: was a worker running?")
        return cls(redis, lists)

    @property
    def tasks(self) -> int:
        return sum(count for _, _, count in self.lists)

    async def release(self, rate: float | None) -> None:
        """Every held task back to its own list, oldest first, the lists in turn, `rate` per second (all at
        once if None). kombu pushes on the left and a worker takes from the right: a task given back
        goes to the left, behind those given back before it."""
        order = [
            (name, held)
            for turn in range(max(count for _, _, count in self.lists))
            for name, held, count in self.lists
            if turn < count
        ]
        start = time.monotonic()
        for i, (name, held) in enumerate(order):
            if rate is not None:
                # Pacing is the point here: there is no event to wait for.
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            await self.redis.lmove(held, name, "RIGHT", "LEFT")


def machine() -> str:
    """The machine the figures come from."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return f"machine: {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def load() -> str:
    """The load average and the busiest processes now: what shares the cores with the bench."""
    one, five, fifteen = os.getloadavg()
    top = subprocess.run(
        ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"], capture_output=True, text=True
    ).stdout.splitlines()[:4]
    busiest = ", ".join(" ".join(line.split()[::-1]) + "%" for line in top)
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}; busiest: {busiest}"


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--ws and --deflate/--no-deflate for the scripts that start APIs."""
    parser.add_argument(
        "--ws",
        default="auto",
        choices=["auto", "websockets", "websockets-sansio", "wsproto"],
        help="uvicorn's WebSocket implementation (UVICORN_WS)",
    )
    parser.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="permessage-deflate: the API accepts it (uvicorn --ws-per-message-deflate) and the clients "
        "offer it, as browsers do; off by default (neither)",
    )


def server_env(args: argparse.Namespace) -> dict[str, str]:
    # uvicorn reads its options from UVICORN_* variables too.
    return {"UVICORN_WS": args.ws, "UVICORN_WS_PER_MESSAGE_DEFLATE": "true" if args.deflate else "false"}


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """One figure over the runs: the value, or min/median/max."""
    if len(values) == 1:
        return fmt.format(values[0])
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q) - 1)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


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
    name: str,
    api: Api,
    env: dict[str, str],
    data: Path,
    args: argparse.Namespace,
    jobs: int,
    rate: float | None,
) -> dict[str, float]:
    """One phase's figures: fresh jobs held in the queues, fresh subscribers, a fresh worker."""
    redis = Redis.from_url(env["REDIS_URL"])
    cv = "\n".join(CV for _ in range(8))
    created = [await improve_cv(api.http_url, f"{cv}\nRun {name} {i}") for i in range(jobs)]
    held = await HeldQueues.hold(redis)
    rss_before = rss_kib(api.proc.pid)
    worker_name = f"bench-{name}-worker"
    try:
        async with Clients.start(
            [api.ws_url], args.subscriptions, args.clients, auth.Caller.bearer, args.deflate
        ) as clients:
            await clients.subscribe([job["id"] for job in created])
            rss_after = rss_kib(api.proc.pid)
            worker = start_worker(worker_name, env, data, pool="prefork", concurrency=2)
            try:
                # A booting worker competes for the cores; measure from when it answers.
                await asyncio.to_thread(wait_ready, env, worker_name)
                lag_before = await lag_buckets(api)
                await clients.mark()
                cpu_before, released = cpu_seconds(api.proc.pid), time.time()
                await held.release(rate)
                pending = await clients.wait_complete(STALL_LIMIT)
                api_cpu = cpu_seconds(api.proc.pid) - cpu_before
                received = await clients.collect()
                if pending:
                    raise RuntimeError(stalled(name, pending, args.subscriptions, received))
                lag = {bound: count - lag_before[bound] for bound, count in (await lag_buckets(api)).items()}
            finally:
                await worker.stop()
    finally:
        await redis.aclose()
    latencies, count = received.latencies, received.receipts
    duration = max(received.times) - min(received.times)
    return {
        "events": count,
        "events_per_s": count / duration,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": quantile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "api_us_per_event": api_cpu / count * 1e6,
        "jobs_per_s": jobs / (max(received.times) - released),
        "kib_per_subscription": (rss_after - rss_before) / args.subscriptions,
        "api_rss_mib": rss_after / 1024,
        "histogram_p50_ms": bucket_quantile(lag, 0.5) * 1000,
        "histogram_p99_ms": bucket_quantile(lag, 0.99) * 1000,
        "client_us_per_receipt": received.cpu_us_per_receipt,
        "busiest_client_core_share": received.busiest_cpu_share * 100,
    }


def stalled(name: str, pending: int, subscriptions: int, received: Figures) -> str:
    return (
        f"{name}: {pending} of {subscriptions} subscriptions still open after {STALL_LIMIT:g} s "
        f"({received.receipts} events received); see the API's /metrics and {LOGS}"
    )


# The figures a phase prints: key, label, format.
LINES = [
    ("events", "events delivered", "{:,.0f}"),
    ("events_per_s", "events/s delivered (one API process)", "{:,.0f}"),
    ("p50_ms", "latency p50, ms (at -> receipt)", "{:.1f}"),
    ("p99_ms", "latency p99, ms", "{:.1f}"),
    ("max_ms", "latency max, ms", "{:.1f}"),
    ("histogram_p50_ms", "API histogram p50, ms (-> frame written)", "{:.1f}"),
    ("histogram_p99_ms", "API histogram p99, ms", "{:.1f}"),
    ("api_us_per_event", "API CPU per delivery, us", "{:.1f}"),
    ("jobs_per_s", "jobs/s completed (one worker, 2 processes)", "{:.1f}"),
    ("kib_per_subscription", "API RSS per socket with 1 subscription, KiB", "{:.1f}"),
    ("api_rss_mib", "API RSS with them, MiB", "{:.0f}"),
    ("client_us_per_receipt", "client CPU per receipt, us", "{:.1f}"),
    ("busiest_client_core_share", "busiest client process, % of a core", "{:.0f}"),
]


def report(title: str, runs: list[dict[str, float]]) -> None:
    print(f"\n== {title}" + (f" ({len(runs)} runs, min/median/max)" if len(runs) > 1 else ""))
    for key, label, fmt in LINES:
        print(f"{label:44} {spread([run[key] for run in runs], fmt)}")


def stack_env(redis_url: str, args: argparse.Namespace) -> dict[str, str]:
    """The API's and the workers' settings for `--jobs`/`--burst-jobs` jobs and `--subscriptions`
    subscribers of one user (this bench's and bench/compare.py's)."""
    return {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": PREFIX,
        "SUBSCRIBER_QUEUE_SIZE": "1024",
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": str(max(args.jobs, args.burst_jobs)),
        "MAX_WEBSOCKETS_PER_USER": str(args.subscriptions),
        # Every WebSocket server alike (uvicorn reads its options from UVICORN_* variables).
        **server_env(args),
    }


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-bench-"))
    redis = start_redis(data / "redis")
    env = stack_env(redis.url, args)
    print(machine())
    print(f"options: {vars(args)}")
    steady: list[dict[str, float]] = []
    burst: list[dict[str, float]] = []
    try:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}: {load()}", flush=True)
            api = await start_api("bench-api", env, data)
            try:
                steady.append(await phase("steady", api, env, data, args, args.jobs, args.release_rate))
                burst.append(await phase("burst", api, env, data, args, args.burst_jobs, None))
            finally:
                await api.proc.stop()
            print(
                "  steady " + figures_line(steady[-1]) + "\n  burst  " + figures_line(burst[-1]), flush=True
            )
    finally:
        redis.stop()
    report(
        f"steady: {args.subscriptions} subscriptions over {args.jobs} jobs at {args.release_rate:g} jobs/s",
        steady,
    )
    report(f"burst: {args.subscriptions} subscriptions over {args.burst_jobs} jobs at once", burst)


def figures_line(figures: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:,.1f}" for key, value in figures.items())


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
    parser.add_argument("--clients", type=int, default=2, help="client processes (bench/clients.py)")
    parser.add_argument("--runs", type=int, default=3)
    add_server_options(parser)
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
