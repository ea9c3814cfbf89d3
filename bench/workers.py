"""What a worker does per second, and what one event costs (issue 13, points 5 and 6).

Starts its own Redis and one API process, then measures four things, each `--repeat` times
(min / median / max printed):

1. throughput: offline-engine IMPROVE_CV jobs per second, end to end from the task reaching the
   queue to SUCCEEDED, for a worker with `--pool prefork -c 1`, `prefork -c 2` and `threads -c 4`.
   The jobs are made through the mutation while the queue is held aside (as bench/pipeline.py
   does), the worker is started and answers a ping, then every task goes back to the queue in one
   RENAME; the clock is Redis's (the events' `at`). Also the worker's CPU per job (all its
   processes) and the job latency p50 / p99 (queue to SUCCEEDED, with every job queued at once).
2. emit: one event write, the emit script (jobs/core/events.py EMIT_LUA through `prepare_emit`)
   as a worker sends it (an OUTPUT of `--delta-chars` characters to a RUNNING job, EVALSHA),
   alone against the local Redis: round trip p50 / p99 in µs, our process's CPU per write
   (prepare + parse), and Redis's own CPU per call (INFO commandstats `usec_per_call`), next to a
   PING and a bare PUBLISH for scale. Nobody subscribes: this is the write, not the fan-out.
3. events per job: the events of the throughput runs' jobs, by type, their gaps, and how many
   would remain if events of the same state less than STREAM_FLUSH_MS apart went out as one.
   3b. the same for jobs answered by the test suite's fake OpenAI server (tests/support), which
   streams the rewrite at a model's pace (`--model-chunk` characters every `--model-interval-ms`).
4. fan-out: PUBLISH of an event-sized message on a channel with N = 1, 100, 1,000 subscribers
   (raw redis-py pubsub connections of this process): Redis's `usec_per_call` for publish and
   Redis's whole CPU per PUBLISH (its process, so the socket writes count too), and the client's
   round trip. Every subscriber's receipt of every message is checked afterwards.

The machine's load (uptime and the busiest processes) is printed before and after.

    python bench/workers.py [--jobs 200] [--repeat 3] [--only throughput,model,emit,fanout]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from redis.asyncio import Redis as AsyncRedis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.event_writer import EventWriter
from bench.pipeline import PREFIX, wait_ready
from devstack.redis_server import RedisServer, start_redis
from jobs.core.names import EventType, JobState, Keys
from settings import Settings
from tests.samples import CV, JOB_DESCRIPTION
from tests.support import auth
from tests.support.fake_openai import FakeOpenAI, Stream
from tests.support.gql import improve_cv
from tests.support.processes import Api, start_api, start_worker

POOLS = [("prefork", 1), ("prefork", 2), ("threads", 4)]
TERMINAL = {JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELLED.value}
DEFAULTS = Settings(redis_url="redis://unused", key_prefix=PREFIX)


def spread(values: Sequence[float], fmt: str = "{:,.1f}") -> str:
    """min / median / max of one figure over the runs."""
    ordered = sorted(values)
    return " / ".join(fmt.format(v) for v in (ordered[0], statistics.median(ordered), ordered[-1]))


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine_load(when: str) -> None:
    print(f"\n-- load {when}: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    # top's second sample is the share over its interval (ps shows a lifetime's average).
    top = subprocess.run(
        ["top", "-b", "-n", "2", "-d", "1", "-o", "%CPU", "-w", "200", "-c"], capture_output=True, text=True
    ).stdout
    rows = [line for line in top.splitlines() if line.strip()]
    header = max(i for i, line in enumerate(rows) if "PID" in line and "COMMAND" in line)
    for line in rows[header + 1 : header + 7]:
        cols = line.split(None, 11)
        print(f"   {cols[8]:>5}% cpu  {cols[11][:100]}")


# kombu's Redis transport keeps each job queue (one, or one per plan and priority) as a list named
# after it under the global key prefix.
QUEUES = f"{PREFIX}:celery:{PREFIX}.jobs*"


async def hold_queues(client: AsyncRedis) -> list[tuple[str, str]]:
    """Every job queue's list moved aside (list, where it waits), so no task is taken yet."""
    held = []
    async for key in client.scan_iter(match=QUEUES, count=1000):
        if await client.type(key) == b"list":  # kombu's bindings are sets
            name = key.decode()
            aside = f"{PREFIX}:held-by-bench-workers:{name}"
            await client.rename(name, aside)
            held.append((name, aside))
    return held


async def release_queues(client: AsyncRedis, held: list[tuple[str, str]]) -> None:
    for name, aside in held:
        await client.rename(aside, name)


def cpu_of_tree(pid: int) -> float:
    """User + system seconds of a process and its live children (a prefork worker's pool)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# --- 1. throughput, and the events it produced (3.) ---------------------------------------------


@dataclass
class ThroughputRun:
    jobs_per_s: float
    cpu_ms_per_job: float
    latency_p50_ms: float
    latency_p99_ms: float
    failed: int
    events: dict[str, list[dict[str, Any]]] = field(repr=False)


async def create_jobs(api: Api, user: str, jobs: int) -> list[str]:
    auth.Caller.become(user)
    limit = asyncio.Semaphore(16)

    async def one(i: int) -> str:
        async with limit:
            job = await improve_cv(api.http_url, f"{CV}\nRun {i}", jobDescription=JOB_DESCRIPTION)
            return str(job["id"])

    return list(await asyncio.gather(*(one(i) for i in range(jobs))))


async def throughput_run(
    api: Api, env: dict[str, str], data: Path, pool: str, concurrency: int, jobs: int, run: int
) -> ThroughputRun:
    user = f"bench-workers-{pool}{concurrency}-{run}-{uuid.uuid4().hex[:6]}"
    client = AsyncRedis.from_url(env["REDIS_URL"])
    keys = Keys(PREFIX)
    events: dict[str, list[dict[str, Any]]] = {}
    ids = await create_jobs(api, user, jobs)
    for job_id in ids:
        raw = await client.lrange(keys.job_log(job_id), 0, -1)  # the CREATED event
        events[job_id] = [json.loads(e) for e in raw]
    held = await hold_queues(client)
    name = f"bench-workers-{pool}{concurrency}-{run}"
    worker = start_worker(name, env, data, pool=pool, concurrency=concurrency)
    pubsub = client.pubsub()
    try:
        await asyncio.to_thread(wait_ready, env, name)
        await pubsub.subscribe(keys.user_channel(user))
        cpu_before = cpu_of_tree(worker.pid)
        seconds, micros = await client.time()
        released = seconds + micros / 1e6
        await release_queues(client, held)
        finished: dict[str, float] = {}
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            event = json.loads(message["data"])
            events[event["jobId"]].append(event)
            if event["state"] in TERMINAL:
                finished[event["jobId"]] = float(event["at"])
                if len(finished) == jobs:
                    break
        cpu = cpu_of_tree(worker.pid) - cpu_before
    finally:
        await pubsub.aclose()
        await worker.stop()
        await client.aclose()
    latencies = [(at - released) * 1000 for at in finished.values()]
    failed = sum(1 for evs in events.values() if evs[-1]["state"] != JobState.SUCCEEDED.value)
    return ThroughputRun(
        jobs_per_s=jobs / (max(finished.values()) - released),
        cpu_ms_per_job=cpu / jobs * 1000,
        latency_p50_ms=statistics.median(latencies),
        latency_p99_ms=quantile(latencies, 0.99),
        failed=failed,
        events=events,
    )


async def throughput(api: Api, env: dict[str, str], data: Path, args: argparse.Namespace) -> None:
    print(f"\n== 1. offline-engine IMPROVE_CV jobs, {args.jobs} queued at once, per worker configuration")
    print("   (min / median / max of", args.repeat, "runs; the API is idle while the worker runs)")
    all_events: dict[str, list[dict[str, Any]]] = {}
    for pool, concurrency in POOLS:
        runs = [
            await throughput_run(api, env, data, pool, concurrency, args.jobs, i) for i in range(args.repeat)
        ]
        for r in runs:
            all_events.update(r.events)
        processes = concurrency if pool == "prefork" else 1
        rates = [r.jobs_per_s for r in runs]
        print(f"\n-- --pool {pool} --concurrency {concurrency}")
        print(f"   jobs/s                      {spread(rates)}")
        print(f"   jobs/s per worker process   {spread([x / processes for x in rates])}")
        print(f"   worker CPU per job          {spread([r.cpu_ms_per_job for r in runs], '{:.2f}')} ms")
        print(f"   queue -> SUCCEEDED p50      {spread([r.latency_p50_ms for r in runs], '{:,.0f}')} ms")
        print(f"   queue -> SUCCEEDED p99      {spread([r.latency_p99_ms for r in runs], '{:,.0f}')} ms")
        print(f"   jobs not SUCCEEDED          {sum(r.failed for r in runs)}")
    events_per_job(all_events, "offline engine")


async def model_events(api: Api, env: dict[str, str], data: Path, args: argparse.Namespace) -> None:
    """3b. The same for jobs whose model is the test suite's fake OpenAI server, streaming at a
    model's pace (`--model-chunk` characters every `--model-interval-ms`), on a threads worker."""
    fake = FakeOpenAI()
    await fake.start()
    try:
        pace = Stream(CV, chunk=args.model_chunk, interval=args.model_interval_ms / 1000)
        fake.script("default", pace)  # what a request without a scenario marker is answered
        model = {
            **env,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_MODEL": "fake-model",
        }
        answered = await throughput_run(api, model, data, "threads", 4, args.model_jobs, 0)
    finally:
        await fake.stop()
    what = f"{args.model_chunk} chars every {args.model_interval_ms} ms"
    print(f"\n== 3b. fake-OpenAI IMPROVE_CV jobs ({args.model_jobs}, threads -c 4, the model streams {what})")
    print(f"   worker CPU per job          {answered.cpu_ms_per_job:.2f} ms")
    print(f"   jobs not SUCCEEDED          {answered.failed}")
    events_per_job(answered.events, "fake-OpenAI engine")


def events_per_job(jobs: dict[str, list[dict[str, Any]]], engine: str) -> None:
    print(f"\n== 3. events per IMPROVE_CV job today ({len(jobs)} jobs of the runs above, {engine})")
    counts = [len(evs) for evs in jobs.values()]
    print(f"   events per job              {spread(counts, '{:.0f}')} (min / median / max over jobs)")
    by_type: Counter[str] = Counter()
    for evs in jobs.values():
        by_type.update(e["type"] for e in evs)
    per_type = ", ".join(f"{t} {n / len(jobs):.2f}" for t, n in by_type.items())
    print(f"   by type, per job            {per_type}")
    sizes = [len(json.dumps(e, separators=(",", ":"))) for evs in jobs.values() for e in evs]
    print(f"   event size                  {statistics.mean(sizes):.0f} B mean, {max(sizes)} B max (JSON)")
    example = min(jobs.values(), key=len)
    print("   one job, in order (gap to the previous event):")
    previous = float(example[0]["at"])
    for e in example:
        gap = (float(e["at"]) - previous) * 1000
        previous = float(e["at"])
        delta = f" delta {len(e['delta'])} chars" if e.get("delta") else ""
        what = f"{e['type']:<9} {e['state']:<9} {e['progress']:>3}%"
        print(f"     +{gap:7.1f} ms  {what}  {e['message'] or ''}{delta}")
    gaps = [
        (float(after["at"]) - float(before["at"])) * 1000
        for evs in jobs.values()
        for before, after in itertools.pairwise(evs)
        if before["type"] != EventType.CREATED.value
    ]
    p50, p99 = quantile(gaps, 0.5), quantile(gaps, 0.99)
    print(f"   gap between a running job's events  p50 {p50:.2f}, p99 {p99:.2f} ms")

    def outputs_only(before: dict[str, Any], after: dict[str, Any]) -> bool:
        return bool(before["type"] == after["type"] == EventType.OUTPUT.value)

    def same_state(before: dict[str, Any], after: dict[str, Any]) -> bool:
        return bool(before["state"] == after["state"] and before["type"] != EventType.CREATED.value)

    ms = DEFAULTS.stream_flush_ms
    for label, mergeable in (
        (f"OUTPUT deltas less than STREAM_FLUSH_MS ({ms} ms) apart went as one", outputs_only),
        (f"any events of one state less than {ms} ms apart went as one", same_state),
    ):
        print(f"   events per job if {label}: {spread(coalesced(jobs, mergeable, ms / 1000), '{:.0f}')}")


def coalesced(
    jobs: dict[str, list[dict[str, Any]]],
    mergeable: Callable[[dict[str, Any], dict[str, Any]], bool],
    window_s: float,
) -> list[int]:
    """Events per job if each event that `mergeable` lets join its predecessor, less than
    `window_s` after the first event of their group, had gone out with it."""
    counts = []
    for evs in jobs.values():
        kept, group_at = 1, float(evs[0]["at"])
        for before, after in itertools.pairwise(evs):
            if not (mergeable(before, after) and float(after["at"]) - group_at < window_s):
                kept, group_at = kept + 1, float(after["at"])
        counts.append(kept)
    return counts


# --- 2. the cost of one event write ----------------------------------------------------------------


def usec_per_call(client: redis.Redis, command: str) -> tuple[float, int]:
    stats = client.info("commandstats").get(f"cmdstat_{command}")
    return (float(stats["usec_per_call"]), int(stats["calls"])) if stats else (0.0, 0)


def timed(call: Callable[[], object], times: int) -> tuple[list[float], float]:
    """Round trips in µs, and this process's CPU per call in µs."""
    samples = []
    cpu_before = time.process_time()
    for _ in range(times):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples, (time.process_time() - cpu_before) / times * 1e6


def emit_run(url: str, writes: int, delta_chars: int, replicated: bool = False) -> dict[str, float]:
    """`replicated`: each write also waits for one replica's acknowledgement (WAIT 1)."""
    writer = EventWriter(url, PREFIX, f"bench-emit-{uuid.uuid4().hex[:6]}")
    client, keys = writer.client, writer.keys
    # Jobs of 10 outputs each, as running jobs are: the log stays short, as it does in production.
    jobs = [writer.create_running() for _ in range(writes // 10)]
    delta = ("Led the billing service in Python. " * (delta_chars // 35 + 1))[:delta_chars]
    outputs = iter((job_id, writer.output_change(50, delta)) for job_id in jobs for _ in range(10))
    channel = keys.job_channel("nobody-listens")
    client.config_resetstat()
    if replicated:

        def write() -> None:
            assert writer.emit_replicated(*next(outputs), replicas=1, timeout_ms=1000) == 1

    else:

        def write() -> None:
            writer.emit(*next(outputs))

    emit_us, emit_cpu = timed(write, len(jobs) * 10)
    ping_us, _ = timed(client.ping, writes)
    publish_us, _ = timed(lambda: client.publish(channel, delta), writes)
    server_emit, calls = usec_per_call(client, "evalsha")
    server_publish, _ = usec_per_call(client, "publish")
    client.close()
    assert calls == len(jobs) * 10, f"evalsha calls {calls}: the script was not sent as EVALSHA"
    return {
        "emit_p50": quantile(emit_us, 0.5),
        "emit_p99": quantile(emit_us, 0.99),
        "emit_client_cpu": emit_cpu,
        "emit_server": server_emit,
        "ping_p50": quantile(ping_us, 0.5),
        "publish_p50": quantile(publish_us, 0.5),
        "publish_server": server_publish,
    }


def emit_cost(server: RedisServer, data: Path, args: argparse.Namespace) -> None:
    runs = [emit_run(server.url, args.writes, args.delta_chars) for _ in range(args.repeat)]
    replica = start_redis(data / "replica")
    try:
        with redis.Redis.from_url(replica.url) as client:
            client.replicaof("127.0.0.1", server.port)
            while client.info("replication")["master_link_status"] != "up":
                time.sleep(0.05)  # a full sync: nothing to await but its end
        replicated = [emit_run(server.url, args.writes, args.delta_chars, True) for _ in range(args.repeat)]
    finally:
        replica.stop()
    what = f"OUTPUT of {args.delta_chars} chars, {args.writes} writes a run"
    print(f"\n== 2. one event write: the emit script, {what}")
    print(f"   (min / median / max of {args.repeat} runs; one synchronous redis-py client, no subscriber)")

    def row(label: str, key: str, of: list[dict[str, float]] = runs) -> None:
        print(f"   {label:<40}{spread([r[key] for r in of])} µs")

    row("emit round trip p50", "emit_p50")
    row("emit round trip p99", "emit_p99")
    row("emit: Redis CPU per call (usec_per_call)", "emit_server")
    row("emit: client CPU per write", "emit_client_cpu")
    row("PING round trip p50 (for scale)", "ping_p50")
    row("PUBLISH round trip p50, no subscriber", "publish_p50")
    row("PUBLISH usec_per_call, no subscriber", "publish_server")
    print("   with a replica on loopback, each write then WAITs for it (REDIS_WAIT_REPLICAS=1):")
    row("emit + WAIT 1 round trip p50", "emit_p50", replicated)
    row("emit + WAIT 1 round trip p99", "emit_p99", replicated)
    row("emit + WAIT 1: client CPU per write", "emit_client_cpu", replicated)


# --- 4. PUBLISH fan-out -------------------------------------------------------------------------------


def redis_cpu_seconds(client: redis.Redis) -> float:
    """Redis's own CPU (getrusage, in microseconds, where /proc counts 10 ms ticks)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def fanout_run(server: RedisServer, subscribers: int, messages: int, size: int) -> dict[str, float]:
    channel = f"{PREFIX}:events:fanout-{uuid.uuid4().hex[:6]}"
    listeners = []
    for _ in range(subscribers):
        pubsub = redis.Redis.from_url(server.url).pubsub()
        pubsub.subscribe(channel)
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        listeners.append(pubsub)
    publisher = redis.Redis.from_url(server.url)
    payload = "x" * size
    publisher.config_resetstat()
    before = redis_cpu_seconds(publisher)
    samples, _ = timed(lambda: publisher.publish(channel, payload), messages)
    redis_cpu = (redis_cpu_seconds(publisher) - before) / messages * 1e6
    server_us, calls = usec_per_call(publisher, "publish")
    assert calls == messages
    # Every subscriber got every message (this also empties Redis's and the kernel's buffers).
    for pubsub in listeners:
        got = 0
        while got < messages:
            message = pubsub.get_message(timeout=10)
            assert message is not None, f"a subscriber got {got} of {messages} messages"
            got += message["type"] == "message"
        pubsub.close()
    publisher.close()
    return {
        "server": server_us,
        "redis_cpu": redis_cpu,
        "rtt_p50": quantile(samples, 0.5),
        "rtt_p99": quantile(samples, 0.99),
    }


def fanout(server: RedisServer, args: argparse.Namespace, size: int) -> None:
    print(f"\n== 4. PUBLISH fan-out: {args.messages} messages of {size} B on one channel, N subscribers")
    print(f"   (min / median / max of {args.repeat} runs; subscribers: redis-py connections of this process)")
    columns = ("usec_per_call µs", "Redis CPU per PUBLISH µs", "round trip p50 µs")
    print(f"   {'N':>6}  " + "  ".join(f"{c:>26}" for c in columns))
    alone = 0.0  # Redis's CPU per PUBLISH with one subscriber: the command's own read and reply
    for n in (1, 100, 1000):
        runs = [fanout_run(server, n, args.messages, size) for _ in range(args.repeat)]
        server_us, cpu, rtt = (spread([r[k] for r in runs]) for k in ("server", "redis_cpu", "rtt_p50"))
        print(f"   {n:>6,}  {server_us:>26}  {cpu:>26}  {rtt:>26}")
        if n == 1:
            alone = statistics.median(r["redis_cpu"] for r in runs)
            continue
        per_call = spread([r["server"] / n for r in runs], "{:.3f}")
        per_cpu = spread([(r["redis_cpu"] - alone) / (n - 1) for r in runs], "{:.2f}")
        print(f"           per further subscriber: usec_per_call {per_call}, Redis CPU {per_cpu} µs")


async def run(args: argparse.Namespace) -> None:
    machine_load("before")
    data = Path(tempfile.mkdtemp(prefix="cvi-bench-workers-"))
    server = start_redis(data / "redis")
    env = {
        "REDIS_URL": server.url,
        "KEY_PREFIX": PREFIX,
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": str(args.jobs),
    }
    try:
        if {"throughput", "model"} & args.only:
            api = await start_api("bench-workers-api", env, data)
            try:
                if "throughput" in args.only:
                    await throughput(api, env, data, args)
                if "model" in args.only:
                    await model_events(api, env, data, args)
            finally:
                await api.proc.stop()
        if "emit" in args.only:
            emit_cost(server, data, args)
        if "fanout" in args.only:
            fanout(server, args, args.message_bytes)
    finally:
        server.stop()
    machine_load("after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per throughput run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--writes", type=int, default=5000, help="event writes per emit run")
    parser.add_argument("--delta-chars", type=int, default=DEFAULTS.stream_flush_chars)
    parser.add_argument("--messages", type=int, default=500, help="PUBLISHes per fan-out run")
    parser.add_argument("--message-bytes", type=int, default=400, help="about an OUTPUT event's JSON")
    parser.add_argument("--model-jobs", type=int, default=20, help="fake-OpenAI jobs (3b.)")
    parser.add_argument("--model-chunk", type=int, default=16, help="characters per model chunk")
    parser.add_argument("--model-interval-ms", type=float, default=5.0, help="between model chunks")
    parser.add_argument("--only", default="throughput,model,emit,fanout")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
