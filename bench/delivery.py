"""What one API process spends to deliver an event, with the worker taken out of the picture.

Starts Redis and one API; writes jobs straight into Redis with the emit script the workers use
(jobs/core/events.py), so the API sees exactly what a worker's events look like; opens
`--sockets` WebSockets with `--per-socket` `jobUpdates` subscriptions each from `--clients`
client processes (uvloop, no permessage-deflate offered unless `--client-deflate`); then writes
`--events` output events per job as fast as one writer goes, and reports:

- API CPU per delivered event (/proc user+system of the API process, over the burst);
- events/s delivered (first to last receipt, all clients);
- latency p50/p99 (the event's `at`, Redis time at the emit, to receipt);
- API RSS per idle socket with one subscription, and per further subscription;
- each client process's CPU per receipt (to show the clients are not the limit).

`--server granian` serves the same app from granian (pip install granian: it is not a dependency;
measured beside uvicorn and not kept, README "Benchmark"). `--profile FILE` records the API with
py-spy over the burst (raw collapsed stacks).

    python bench/delivery.py [--sockets 1000] [--per-socket 1] [--jobs 10] [--events 20]
                             [--clients 2] [--ws auto|websockets|websockets-sansio|wsproto]
                             [--deflate] [--client-deflate] [--server uvicorn|granian]
                             [--rate EVENTS_PER_S] [--timeline] [--profile FILE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import raise_nofile
from bench.event_writer import EventWriter
from bench.pipeline import quantile, spread
from devstack.redis_server import free_port, start_redis
from tests.support import auth
from tests.support.processes import Api, start_api, start_process, wait_healthy

PREFIX = "bench-delivery"
QUERY = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq type state progress delta at } }"
OWNER = "bench-delivery-user"
DELTA = ("Led the billing service in Python; cut its p99 by half. " * 4)[:200]


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process and its children (granian serves from a child)."""
    user = system = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        user, system = user + times.user, system + times.system
    return user, system


def tree_rss_kib(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) // 1024


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


# ---- client processes ----


async def _client(ws_url: str, jobs: list[str], sockets: int, per_socket: int, deflate: bool, conn) -> None:
    import websockets

    token = auth.token(OWNER, "Premium")
    init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    opened = []
    compression = "deflate" if deflate else None
    for _ in range(sockets):
        ws = await websockets.connect(
            ws_url, subprotocols=["graphql-transport-ws"], max_size=None, compression=compression
        )
        await ws.send(init)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        opened.append(ws)
    conn.send(("connected", None))
    assert conn.recv() == "subscribe"
    for s, ws in enumerate(opened):
        for k in range(per_socket):
            job = jobs[(s * per_socket + k) % len(jobs)]
            payload = {"query": QUERY, "variables": {"j": job}}
            await ws.send(json.dumps({"id": str(k), "type": "subscribe", "payload": payload}))
            first = json.loads(await ws.recv())
            assert first["type"] == "next", first
    conn.send(("subscribed", None))
    latencies: list[float] = []
    times: list[float] = []

    async def drain(ws) -> None:
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send('{"type":"pong"}')
                continue
            if message["type"] != "next":
                continue
            at = message["payload"]["data"]["jobUpdates"]["at"]
            latencies.append(now - datetime.fromisoformat(at).timestamp())
            times.append(now)

    cpu0 = time.process_time()
    tasks = [asyncio.create_task(drain(ws)) for ws in opened]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "stop"
    for t in tasks:
        t.cancel()
    for ws in opened:
        await ws.close()
    conn.send(("done", {"latencies": latencies, "times": times, "cpu": time.process_time() - cpu0}))


def client_main(ws_url, jobs, sockets, per_socket, deflate, conn) -> None:
    raise_nofile()
    uvloop.run(_client(ws_url, jobs, sockets, per_socket, deflate, conn))


# ---- the run ----


async def start_server(args, env: dict[str, str], data: Path) -> Api:
    if args.server == "uvicorn":
        return await start_api("bench-delivery-api", env, data)
    port = free_port()
    granian = str(Path(sys.executable).parent / "granian")
    command = [granian, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
    command += ["--log-level", "warning", "asgi:app"]
    api = Api(start_process("bench-delivery-granian", command, env, data), port)
    await wait_healthy(api)
    return api


class Clients:
    """The client processes, each with its share of the sockets, driven through pipes."""

    def __init__(self, args, ws_url: str, jobs: list[str]) -> None:
        context = mp.get_context("spawn")
        self.pipes, self.processes = [], []
        for i in range(args.clients):
            sockets = args.sockets // args.clients + (i < args.sockets % args.clients)
            parent, child = context.Pipe()
            work = (ws_url, jobs, sockets, args.per_socket, args.client_deflate, child)
            process = context.Process(target=client_main, args=work)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def all_say(self, word: str) -> None:
        for pipe in self.pipes:
            assert pipe.recv()[0] == word

    def tell(self, word: str) -> None:
        for pipe in self.pipes:
            pipe.send(word)

    def figures(self) -> tuple[list[float], list[float], float]:
        self.tell("stop")
        latencies, times, cpu = [], [], 0.0
        for pipe in self.pipes:
            _done, figures = pipe.recv()
            latencies += figures["latencies"]
            times += figures["times"]
            cpu += figures["cpu"]
        for process in self.processes:
            process.join()
        return latencies, times, cpu


@contextlib.asynccontextmanager
async def profiled(args, pid: int):
    """py-spy recording the API while the block runs, when --profile asks for it."""
    if not args.profile:
        yield
        return
    flags = args.profile_flags or ["--nonblocking"]
    command = ["record", "--format", "raw", "--rate", "1000", *flags, "-o", args.profile, "--pid", str(pid)]
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), *command, stderr=asyncio.subprocess.DEVNULL
    )
    await asyncio.sleep(1.0)  # py-spy attaching: there is no event to wait for
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        await spy.wait()


async def until_quiet(pid: int) -> None:
    """Delivery has ended once the API's CPU stays idle for 0.6 s (its clients keep their figures)."""
    last, quiet = cpu_seconds(pid), 0
    while quiet < 3:
        await asyncio.sleep(0.2)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < 0.01 else 0
        last = now


def print_timeline(latencies: list[float], times: list[float]) -> None:
    """p50/p99/max of the latency per second of receipt: when the slow ones came."""
    start = min(times)
    seconds: dict[int, list[float]] = {}
    for latency, at in zip(latencies, times, strict=True):
        seconds.setdefault(int(at - start), []).append(latency)
    for second, values in sorted(seconds.items()):
        values.sort()
        p50, p99 = quantile(values, 0.5) * 1000, quantile(values, 0.99) * 1000
        worst = values[-1] * 1000
        print(f"  t={second:3d}s n={len(values):6d} p50 {p50:7.1f} p99 {p99:7.1f} max {worst:7.1f} ms")


async def one_run(args, redis_url: str, data: Path) -> dict[str, float]:
    env = {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": PREFIX,
        "SUBSCRIBER_QUEUE_SIZE": "4096",
        "JWT_SECRET": auth.SECRET,
        "MAX_WEBSOCKETS_PER_USER": str(args.sockets + 10),
        "UVICORN_WS_PER_MESSAGE_DEFLATE": "true" if args.deflate else "false",
        "UVICORN_WS": args.ws,
        **dict(kv.split("=", 1) for kv in args.env),
    }
    api = await start_server(args, env, data)
    pid = api.proc.pid
    writer = EventWriter(redis_url, PREFIX, OWNER)
    try:
        jobs = [writer.create_running() for _ in range(args.jobs)]
        rss_before = tree_rss_kib(pid)
        clients = Clients(args, api.ws_url, jobs)
        clients.all_say("connected")
        rss_sockets = tree_rss_kib(pid)
        clients.tell("subscribe")
        clients.all_say("subscribed")
        rss_subscribed = tree_rss_kib(pid)
        async with profiled(args, pid):
            user0, system0 = cpu_split(pid)
            started = time.monotonic()
            for i in range(args.events):
                for n, job in enumerate(jobs):
                    if args.rate:  # paced: there is no event to wait for
                        due = started + (i * len(jobs) + n) / args.rate
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                    writer.output(job, 10 + i, DELTA)
            await until_quiet(pid)
            user1, system1 = cpu_split(pid)
        latencies, times, client_cpu = clients.figures()
    finally:
        await api.proc.stop()
    got = len(latencies)
    if args.timeline:
        print_timeline(latencies, times)
    return {
        "delivered": got,
        "expected": args.sockets * args.per_socket * args.events,
        "api_us_per_event": (user1 - user0 + system1 - system0) / got * 1e6,
        "api_user_us": (user1 - user0) / got * 1e6,
        "api_system_us": (system1 - system0) / got * 1e6,
        "events_per_s": got / (max(times) - min(times)),
        "p50_ms": quantile(latencies, 0.5) * 1000,
        "p99_ms": quantile(latencies, 0.99) * 1000,
        "kib_per_socket": (rss_sockets - rss_before) / args.sockets,
        "kib_per_subscription": (rss_subscribed - rss_sockets) / (args.sockets * args.per_socket),
        "client_us_per_receipt": client_cpu / got * 1e6,
    }


async def run(args) -> None:
    raise_nofile()
    data = Path(tempfile.mkdtemp(prefix="cvi-delivery-"))
    server = start_redis(data / "redis")
    print(f"# {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args}")
    results = []
    try:
        for r in range(args.repeat):
            result = await one_run(args, server.url, data)
            results.append(result)
            print(f"run {r + 1}: " + ", ".join(f"{k} {v:,.1f}" for k, v in result.items()), flush=True)
    finally:
        server.stop()
    if len(results) > 1:
        for key in results[0]:
            print(f"{key:24} min/median/max {spread([r[key] for r in results], '{:,.1f}')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--per-socket", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--ws", default="auto")
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument("--deflate", action="store_true", help="the API offers permessage-deflate")
    parser.add_argument("--client-deflate", action="store_true", help="the clients offer it")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0, help="events/s, paced (0: at once)")
    parser.add_argument("--timeline", action="store_true", help="latency per second of receipt")
    parser.add_argument("--profile", help="py-spy's raw (collapsed) profile of the API's burst, to this file")
    parser.add_argument("--profile-flags", nargs="*", default=[], help="more py-spy flags, e.g. --native")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the API")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
