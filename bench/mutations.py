"""Mutation benchmark: how many `improveCv` jobs one API process enqueues per second, and whether its
event loop stays responsive meanwhile (issue 13, point 2).

Starts its own Redis and, per run, a fresh API; no worker runs, so every job waits in its queue. The
callers are many Premium users (tokens as tests/support/auth.py signs them), each well under the plan's
daily AI quota and hourly API-call quota, and MAX_ACTIVE_JOBS_PER_USER is lifted: nothing is refused.
`--clients` client processes each hold `--connections` HTTP/1.1 keep-alive connections and post the
mutation back to back for `--seconds` (a minimal client over asyncio streams, so that the client is not
what limits the rate on a machine whose cores the API shares).

Meanwhile a probe socket (graphql-transport-ws) sends a `ping` every 10 ms and times the `pong`: the
API answers it on its event loop, so the probe's p99 is the loop's lag. It is measured idle first, then
during the flood.

Prints per run and as min/median/max over `--runs`: mutations/s, API CPU per mutation (user + system,
from /proc), the mutation's latency p50/p99, the probe's p99 idle and under the flood, errors.

    python bench/mutations.py [--clients 2] [--connections 32] [--seconds 8] [--runs 3]
                              [--profile out.svg]   (py-spy record on the API during the first flood)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import uvloop
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline import cpu_seconds, load, machine, quantile, spread
from devstack.redis_server import start_redis
from tests.samples import CV
from tests.support import auth
from tests.support.processes import Api, start_api

PREFIX = "benchmut"
# A Premium user may start 1,000 AI improvements a day and make 1,200 API calls an hour: stay well below.
MUTATIONS_PER_USER = 400
MUTATION = "mutation($input: ImproveCvInput!) { improveCv(input: $input) { id state } }"
PROBE_INTERVAL = 0.010


def request_bytes(port: int, bearer: str, body: bytes) -> bytes:
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nAuthorization: Bearer {bearer}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def connection(
    port: int, users: list[str], deadline: float, latencies: list[float], errors: list[str]
) -> None:
    """One keep-alive connection posting the mutation back to back until `deadline`, as `users` in turn."""
    body = json.dumps({"query": MUTATION, "variables": {"input": {"cvText": CV, "position": "Engineer"}}})
    requests = [request_bytes(port, auth.token(user), body.encode()) for user in users]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        while time.monotonic() < deadline and sent < len(requests) * MUTATIONS_PER_USER:
            start = time.perf_counter()
            writer.write(requests[sent % len(requests)])
            sent += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answer = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200") or b'"errors"' in answer:
                errors.append(answer[:300].decode(errors="replace"))
    finally:
        writer.close()


def client(port: int, tag: str, connections: int, users_each: int, seconds: float, out: Connection) -> None:
    """A client process: `connections` connections, each as `users_each` users of its own."""

    async def flood() -> tuple[list[float], list[str]]:
        latencies: list[float] = []
        errors: list[str] = []
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(
                connection(port, [f"{tag}-c{c}-u{u}" for u in range(users_each)], deadline, latencies, errors)
                for c in range(connections)
            )
        )
        return latencies, errors

    out.send(uvloop.run(flood()))
    out.close()


async def probe(api: Api, stop: asyncio.Event) -> list[float]:
    """graphql-transport-ws ping -> pong round trips every 10 ms until `stop`."""
    rtts: list[float] = []
    init = json.dumps(
        {"type": "connection_init", "payload": {"Authorization": f"Bearer {auth.token('probe')}"}}
    )
    async with websockets.connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(init)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        while not stop.is_set():
            start = time.perf_counter()
            await ws.send('{"type":"ping"}')
            while json.loads(await ws.recv())["type"] != "pong":
                pass
            rtts.append(time.perf_counter() - start)
            # Pacing is the point: a probe is a sample every 10 ms, there is no event to wait for.
            await asyncio.sleep(PROBE_INTERVAL)
    return rtts


async def idle_probe(api: Api, seconds: float) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(probe(api, stop))
    await asyncio.sleep(seconds)
    stop.set()
    return await task


async def one_run(api: Api, args: argparse.Namespace, number: int, data: Path) -> dict[str, float]:
    idle = await idle_probe(api, 2.0)
    users_each = -(-int(args.seconds * 2000 / (args.clients * args.connections)) // MUTATIONS_PER_USER)
    context = mp.get_context("spawn")
    pipes = []
    procs = []
    for c in range(args.clients):
        receive, send = context.Pipe(duplex=False)
        proc = context.Process(
            target=client,
            args=(api.port, f"r{number}-p{c}", args.connections, users_each, args.seconds, send),
        )
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    stop = asyncio.Event()
    probing = asyncio.create_task(probe(api, stop))
    profiler = None
    if args.profile and number == 0:
        profiler = await asyncio.create_subprocess_exec(
            *[
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(api.proc.pid),
                "--duration",
                str(int(args.seconds) - 2),
                "--rate",
                "200",
                "--format",
                args.profile_format,
                "--output",
                args.profile,
            ],
            stdout=subprocess.DEVNULL,
        )
    cpu_before = cpu_seconds(api.proc.pid)
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    results = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(api.proc.pid) - cpu_before
    stop.set()
    flood = await probing
    for proc in procs:
        proc.join()
    if profiler is not None:
        await profiler.wait()
    latencies = [latency for got, _ in results for latency in got]
    errors = [error for _, got in results for error in got]
    if errors:
        print(f"  {len(errors)} errors, the first: {errors[0]}", flush=True)
    done = len(latencies) - len(errors)
    return {
        "mutations/s": done / elapsed,
        "API CPU us/mutation": cpu / max(done, 1) * 1e6,
        "mutation p50 ms": quantile(latencies, 0.50) * 1000,
        "mutation p99 ms": quantile(latencies, 0.99) * 1000,
        "probe p99 idle ms": quantile(idle, 0.99) * 1000,
        "probe p99 flood ms": quantile(flood, 0.99) * 1000,
        "probe max flood ms": max(flood) * 1000,
        "errors": float(len(errors)),
    }


async def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="cvi-bench-mut-"))
    redis = start_redis(data / "redis")
    env = {
        "REDIS_URL": redis.url,
        "KEY_PREFIX": PREFIX,
        "JWT_SECRET": auth.SECRET,
        "MAX_ACTIVE_JOBS_PER_USER": str(MUTATIONS_PER_USER),
    }
    print(machine())
    print(f"options: {vars(args)}")
    runs: list[dict[str, float]] = []
    try:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}: {load()}", flush=True)
            api = await start_api("bench-mutations-api", env, data)
            try:
                runs.append(await one_run(api, args, number, data))
            finally:
                await api.proc.stop()
            print("  " + ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].items()), flush=True)
    finally:
        redis.stop()
    print(f"\n{args.clients} client processes x {args.connections} connections, {args.seconds:g} s each run")
    for key in runs[0]:
        print(f"{key:24} {spread([run[key] for run in runs])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="per client process")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", help="py-spy record's output file (first run)")
    parser.add_argument("--profile-format", default="speedscope", choices=["speedscope", "flamegraph", "raw"])
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
