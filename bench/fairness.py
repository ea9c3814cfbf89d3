"""Queue wait per plan while Free users flood the service (issue 13, point 4).

Starts its own Redis, one API process and one worker (prefork, 2 processes; offline engine). Per run:
`--flooders` Free users each queue as many improvements as their plan allows (3 a day) at once, a
backlog of several seconds of work; meanwhile a Premium user, a Pro user and other Free users
(a fresh one per job, so each is a first job) each submit one job every `--interval` seconds,
`--rounds` times. Once every job has ended, the queue wait of each (its STARTED event's `at` minus
its CREATED event's, both Redis's clock) is printed as p50 / p99 / max per group, min/median/max over
the `--runs`.

`--fifo` runs the same load on the code before the plan queues (commit `--fifo-commit`, extracted
with `git archive`: one queue, first come first served) for comparison.

    python bench/fairness.py [--flooders 150] [--rounds 25] [--interval 0.2] [--runs 3] [--fifo]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline import load, machine, quantile
from devstack.redis_server import start_redis
from jobs.celery import create_celery
from jobs.core.names import Keys
from settings import Settings
from tests.samples import CV
from tests.support import auth
from tests.support.gql import GraphQLErrors, execute
from tests.support.processes import Api, start_api, start_worker

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "bench-fair"
FREE_PER_DAY = 3  # jobs/core/quotas.py: a Free user's AI improvements a day
GROUPS = ("Premium", "Pro", "Free (other users)", "Free (flooders)")


MUTATION = "mutation($input: ImproveCvInput!) { improveCv(input: $input) { id } }"
VARIABLES = {"input": {"cvText": CV, "position": "Backend Engineer"}}


async def submit(api: Api, user: str, plan: str, refused: list[str]) -> list[str]:
    """The new job's id, or none if the user is at their cap (counted in `refused`)."""
    try:
        data = await execute(api.http_url, MUTATION, VARIABLES, token=auth.token(user, plan))
    except GraphQLErrors as e:
        if e.codes != ["TOO_MANY_ACTIVE_JOBS"]:
            raise
        refused.append(plan)
        return []
    return [str(data["improveCv"]["id"])]


async def flood(api: Api, run: str, flooders: int) -> list[str]:
    users = [f"{run}-flood{n}" for n in range(flooders)]
    return [job for user in users for _ in range(FREE_PER_DAY) for job in await submit(api, user, "Free", [])]


async def trickle(
    api: Api, run: str, rounds: int, interval: float, refused: list[str]
) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = {group: [] for group in GROUPS[:3]}
    start = time.monotonic()
    for n in range(rounds):
        # Pacing is the point: the modest users submit at a rate, not in response to anything.
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        jobs["Premium"] += await submit(api, f"{run}-premium", "Premium", refused)
        jobs["Pro"] += await submit(api, f"{run}-pro", "Pro", refused)
        jobs["Free (other users)"] += await submit(api, f"{run}-free-other{n}", "Free", refused)
    return jobs


async def waits(redis: Redis, keys: Keys, job_ids: list[str]) -> list[float]:
    """Each job's queue wait in ms, once every job has ended."""
    pending = list(job_ids)
    while pending:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in pending:
                pipe.hget(keys.job(job_id), "state")
            states = await pipe.execute()
        pending = [j for j, s in zip(pending, states, strict=True) if s not in (b"SUCCEEDED", b"FAILED")]
        if pending:
            await asyncio.sleep(0.2)  # polling the outcome: a bench, not a test
    found = []
    for job_id in job_ids:
        events = [json.loads(e) for e in await redis.lrange(keys.job_log(job_id), 0, -1)]
        # The log keeps `at` as Unix seconds (Redis's clock).
        at = {e["type"]: float(e["at"]) for e in events if e["type"] in ("CREATED", "STARTED")}
        found.append((at["STARTED"] - at["CREATED"]) * 1000)
    return found


async def one_run(args: argparse.Namespace, redis_url: str, cwd: Path, n: int) -> dict[str, list[float]]:
    prefix = f"{PREFIX}-{n}"
    keys = Keys(prefix)
    env = {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": prefix,
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": "5",
        "MAX_WEBSOCKETS_PER_USER": "1000",
        "PYTHONPATH": str(cwd),
    }
    api = await start_api(f"{prefix}-api", env, cwd)
    redis = Redis.from_url(redis_url)
    run = uuid.uuid4().hex[:8]
    worker = None
    try:
        # The flood is queued first, a backlog; the others arrive while the worker works through it.
        flooded = await flood(api, run, args.flooders)
        worker = start_worker(f"{prefix}-worker", env, cwd, pool="prefork", concurrency=2)
        await asyncio.to_thread(wait_ready, redis_url, prefix, f"{prefix}-worker")
        refused: list[str] = []
        trickled = await trickle(api, run, args.rounds, args.interval, refused)
        if refused:
            print(f"  refused at their cap (TOO_MANY_ACTIVE_JOBS): {dict(Counter(refused))}")
        groups = {**trickled, "Free (flooders)": flooded}
        return {group: await waits(redis, keys, jobs) for group, jobs in groups.items()}
    finally:
        await redis.aclose()
        if worker is not None:
            await worker.stop()
        await api.proc.stop()


def wait_ready(redis_url: str, prefix: str, name: str) -> None:
    control = create_celery(Settings(redis_url=redis_url, key_prefix=prefix)).control
    for _ in range(60):
        if control.ping(destination=[f"{name}@{socket.gethostname()}"], timeout=1.0):
            return
    raise RuntimeError(f"{name} did not answer a ping")


def report(title: str, runs: list[dict[str, list[float]]]) -> None:
    print(f"\n{title}: queue wait in ms, p50 / p99 / max per run, then min/median/max of each over runs")
    for group in GROUPS:
        figures = [(quantile(r[group], 0.5), quantile(r[group], 0.99), max(r[group])) for r in runs]
        cells = []
        for i, name in enumerate(("p50", "p99", "max")):
            values = sorted(f[i] for f in figures)
            cells.append(f"{name} {values[0]:,.0f}/{statistics.median(values):,.0f}/{values[-1]:,.0f}")
        print(f"  {group:<20} jobs {len(runs[0][group]):>4}  " + "  ".join(cells))


def old_code(commit: str, into: Path) -> Path:
    """The checkout at `commit`, for the FIFO comparison (no git state is changed)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True)
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flooders", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fifo", action="store_true", help="also run the code before the plan queues")
    parser.add_argument("--fifo-commit", default="4cc19b8")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp) / "redis")
        try:
            variants = [("plan queues", ROOT)]
            if args.fifo:
                variants.append(("one FIFO queue", old_code(args.fifo_commit, Path(tmp) / "before")))
            for n, (title, cwd) in enumerate(variants):
                runs = []
                for r in range(args.runs):
                    print(f"{title}, run {r + 1}: {load()}", flush=True)
                    runs.append(await one_run(args, server.url, cwd, n * args.runs + r))
                report(title, runs)
            print(f"\nafter: {load()}")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
