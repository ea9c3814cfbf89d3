"""A measuring client that is not the bottleneck: graphql-transport-ws subscribers in several processes.

One Python process with a general-purpose WebSocket client (a reader task and a queue per socket) spends
tens of microseconds per received frame; at a few thousand events/s it, not the API, bounds the rate.
So the subscribers are spread over `processes` client processes (spawned, uvloop), and each socket is
a bare asyncio protocol: the handshake, unmasked server frames parsed straight from the buffer, one
receipt time per read (every frame in it arrived then), no task per socket. Client frames carry the
zero mask key (RFC 6455 requires a mask, not a secret one; servers unmask it alike).

Each process records, per event after a subscription's first message (the current state), its receipt
time and its latency (the event's `at`, Redis time at publish, to receipt), and hands them to the parent
over a pipe with its own CPU seconds, so that a bench shows the clients were below saturation (their CPU
per receipt, and the busiest one's CPU over the wall time of the measurement).

No permessage-deflate is offered unless asked (`deflate=True`: offered, and the server's compressed
frames inflated).

    async with Clients.start(ws_urls, sockets=1000, processes=2, token=bearer) as clients:
        await clients.subscribe(job_ids, per_socket=1)
        await clients.mark()
        ... release the jobs ...
        pending = await clients.wait_complete(timeout=120)
        figures = await clients.collect()
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing as mp
import os
import resource
import time
import zlib
from array import array
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import urlsplit

import uvloop

QUERY = "subscription($j: ID!) { jobUpdates(jobId: $j) { seq type state delta at } }"
# Sockets a process opens at once: more would overflow the server's accept backlog on a loaded machine.
OPEN_BATCH = 100
DEFLATE_TAIL = b"\x00\x00\xff\xff"


def raise_nofile() -> int:
    """The soft file-descriptor limit up to the hard one (thousands of sockets per process); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def frame(opcode: int, payload: bytes) -> bytes:
    """A client frame, FIN set, masked with the zero key (so the payload goes as it is)."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


@dataclass
class Recorder:
    """What one process saw since its last mark."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    times: array[float] = field(default_factory=lambda: array("d"))
    errors: list[str] = field(default_factory=list)
    pending: int = 0  # subscriptions not yet completed by the server
    all_complete: asyncio.Event = field(default_factory=asyncio.Event)

    def completed(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.all_complete.set()


class Socket(asyncio.Protocol):
    """One graphql-transport-ws socket: its handshake, its frames, its subscriptions."""

    def __init__(self, host: str, path: str, init: bytes, recorder: Recorder, deflate: bool) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n"
            + ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else "")
            + "\r\n"
        ).encode()
        self._init = init
        self._recorder = recorder
        self._buffer = bytearray()
        self._upgraded = False
        self._inflater: Any = None
        self._fragments: list[bytes] = []
        self._fragment_compressed = False
        self.transport: asyncio.Transport | None = None
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Subscription id -> the future its first message (the current state) resolves.
        self._first: dict[str, asyncio.Future[None]] = {}
        self._open: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is one in all but its class.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._open:
            self._recorder.errors.append(f"socket closed with {len(self._open)} subscriptions open ({exc})")
        for _ in self._open:
            self._recorder.completed()
        self._open.clear()
        if not self.acknowledged.done():
            self.acknowledged.set_exception(ConnectionError(f"closed before connection_ack ({exc})"))
        for first in self._first.values():
            if not first.done():
                first.set_exception(ConnectionError("closed before the subscription's first message"))

    def send_text(self, message: str) -> None:
        assert self.transport is not None
        self.transport.write(frame(0x1, message.encode()))

    def subscribe(self, operation_id: str, job_id: str) -> asyncio.Future[None]:
        first = asyncio.get_running_loop().create_future()
        self._first[operation_id] = first
        self._open.add(operation_id)
        self._recorder.pending += 1
        self._recorder.all_complete.clear()
        payload = {"query": QUERY, "variables": {"j": job_id}}
        self.send_text(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))
        return first

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.time()  # every frame in this read arrived now
        self._buffer += data
        if not self._upgraded and not self._handshake():
            return
        buffer = self._buffer
        start, end = 0, len(buffer)
        while end - start >= 2:
            first, second = buffer[start], buffer[start + 1] & 0x7F
            offset = start + 2
            if second == 126:
                if end - offset < 2:
                    break
                second, offset = int.from_bytes(buffer[offset : offset + 2], "big"), offset + 2
            elif second == 127:
                if end - offset < 8:
                    break
                second, offset = int.from_bytes(buffer[offset : offset + 8], "big"), offset + 8
            if end - offset < second:
                break
            payload = bytes(buffer[offset : offset + second])
            start = offset + second
            self._frame(first, payload, now)
        del buffer[:start]

    def _handshake(self) -> bool:
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = self._buffer[:head_end].decode("latin-1")
        del self._buffer[: head_end + 4]
        status, *headers = head.split("\r\n")
        if " 101 " not in status:
            self.acknowledged.set_exception(ConnectionError(f"handshake refused: {status}"))
            return False
        extensions = [h for h in headers if h.lower().startswith("sec-websocket-extensions:")]
        if extensions and "permessage-deflate" in extensions[0]:
            self._inflater = zlib.decompressobj(-15)
        self._upgraded = True
        self.send_text(self._init.decode())
        return True

    def _frame(self, first: int, payload: bytes, now: float) -> None:
        opcode = first & 0x0F
        if opcode == 0x9:  # ping: answer with its payload
            assert self.transport is not None
            self.transport.write(frame(0xA, payload))
            return
        if opcode == 0x8:
            self.close()
            return
        if opcode == 0xA:
            return
        if opcode != 0x0:
            self._fragment_compressed = bool(first & 0x40)
        self._fragments.append(payload)
        if not first & 0x80:
            return  # a fragment; the message ends with a FIN frame
        message = b"".join(self._fragments)
        self._fragments.clear()
        if self._fragment_compressed:
            message = self._inflater.decompress(message + DEFLATE_TAIL)
        self._message(message, now)

    def _message(self, raw: bytes, now: float) -> None:
        message = json.loads(raw)
        kind = message["type"]
        if kind == "next":
            first = self._first.get(message["id"])
            if first is not None and not first.done():
                first.set_result(None)  # the current state, not an event
                return
            at = message["payload"]["data"]["jobUpdates"]["at"]
            recorder = self._recorder
            recorder.latencies.append(now - datetime.fromisoformat(at).timestamp())
            recorder.times.append(now)
        elif kind == "ping":
            self.send_text('{"type":"pong"}')
        elif kind == "connection_ack":
            self.acknowledged.set_result(None)
        elif kind in ("complete", "error"):
            if kind == "error":
                self._recorder.errors.append(json.dumps(message)[:300])
                first = self._first.get(message["id"])
                if first is not None and not first.done():
                    first.set_exception(RuntimeError(f"subscription refused: {message}"))
            if message["id"] in self._open:
                self._open.discard(message["id"])
                self._recorder.completed()


@dataclass
class ProcessFigures:
    """One client process's figures since the parent's last mark."""

    latencies: bytes
    times: bytes
    cpu_seconds: float
    wall_seconds: float
    errors: list[str]

    @property
    def receipts(self) -> int:
        return len(self.latencies) // 8

    @property
    def receipt_span(self) -> float:
        """Seconds from this process's first receipt to its last."""
        times = array("d", self.times)
        return max(times) - min(times) if times else 0.0


@dataclass
class Figures:
    """All client processes' figures since the last mark."""

    latencies: list[float]
    times: list[float]
    processes: list[ProcessFigures]

    @property
    def receipts(self) -> int:
        return len(self.latencies)

    @property
    def cpu_us_per_receipt(self) -> float:
        return sum(p.cpu_seconds for p in self.processes) / max(1, self.receipts) * 1e6

    @property
    def busiest_cpu_share(self) -> float:
        """The busiest client process's CPU over the span of its receipts (1.0: one core full). Its CPU
        outside that span counts too, so this overstates the load of the receiving."""
        return max(
            (p.cpu_seconds / p.receipt_span for p in self.processes if p.receipt_span > 0), default=0.0
        )

    def summary(self) -> str:
        return (
            f"{len(self.processes)} client processes: {self.cpu_us_per_receipt:.1f} us CPU per receipt, "
            f"busiest at {self.busiest_cpu_share:.0%} of a core"
        )


class Child:
    """The client process's side: its sockets, and the parent's commands."""

    def __init__(
        self, pipe: Connection, urls: list[str], indices: list[int], init: str, deflate: bool
    ) -> None:
        self.pipe, self.urls, self.indices, self.init, self.deflate = pipe, urls, indices, init, deflate
        self.recorder = Recorder()
        self.sockets: list[Socket] = []
        self.cpu_mark, self.wall_mark = time.process_time(), time.time()

    async def open_one(self, index: int) -> Socket:
        url = urlsplit(self.urls[index % len(self.urls)])
        host, port = url.hostname or "127.0.0.1", url.port or 80
        loop = asyncio.get_running_loop()
        _, socket = await loop.create_connection(
            lambda: Socket(f"{host}:{port}", url.path, self.init.encode(), self.recorder, self.deflate),
            host,
            port,
        )
        await socket.acknowledged
        return socket

    async def connect(self) -> int:
        for start in range(0, len(self.indices), OPEN_BATCH):
            batch = self.indices[start : start + OPEN_BATCH]
            self.sockets += await asyncio.gather(*(self.open_one(i) for i in batch))
        return len(self.sockets)

    async def subscribe(self, jobs: list[str], first_slot: int, count: int) -> int:
        firsts = []
        for k in range(first_slot, first_slot + count):
            for index, socket in zip(self.indices, self.sockets, strict=True):
                # Socket s holds jobs s, s+1, ... (distinct while there are as many jobs as slots), and
                # every job gets as many subscribers as any other when the counts divide.
                job = jobs[(index + k) % len(jobs)]
                firsts.append(socket.subscribe(str(k), job))
        for start in range(0, len(firsts), OPEN_BATCH * 10):
            await asyncio.gather(*firsts[start : start + OPEN_BATCH * 10])
        return len(firsts)

    def mark(self) -> None:
        self.recorder.latencies, self.recorder.times, self.recorder.errors = array("d"), array("d"), []
        self.cpu_mark, self.wall_mark = time.process_time(), time.time()

    def figures(self) -> ProcessFigures:
        return ProcessFigures(
            self.recorder.latencies.tobytes(),
            self.recorder.times.tobytes(),
            time.process_time() - self.cpu_mark,
            time.time() - self.wall_mark,
            list(self.recorder.errors),
        )

    async def wait_complete(self, limit: float) -> int:
        if self.recorder.pending:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.recorder.all_complete.wait(), limit)
        return self.recorder.pending

    async def serve(self) -> None:
        while True:
            # Read in a thread: a loop's reader would make the pipe non-blocking, and a large answer
            # (hundreds of thousands of receipts) would then fail to send with EAGAIN.
            command, *arguments = await asyncio.to_thread(self.pipe.recv)
            try:
                if command == "connect":
                    answer: Any = await self.connect()
                elif command == "subscribe":
                    answer = await self.subscribe(*arguments)
                elif command == "mark":
                    self.mark()
                    answer = None
                elif command == "wait_complete":
                    answer = await self.wait_complete(*arguments)
                elif command == "collect":
                    answer = self.figures()
                elif command == "close":
                    for socket in self.sockets:
                        socket.close()
                    self.pipe.send(("ok", None))
                    return
                else:
                    raise ValueError(f"unknown command {command}")
            except Exception as e:  # the parent raises it: a client's failure is the run's
                self.pipe.send(("failed", f"{type(e).__name__}: {e}"))
                continue
            self.pipe.send(("ok", answer))


def child_main(pipe: Connection, urls: list[str], indices: list[int], init: str, deflate: bool) -> None:
    raise_nofile()
    uvloop.run(Child(pipe, urls, indices, init, deflate).serve())


class Clients:
    """The parent's side: the client processes, driven together."""

    def __init__(self, pipes: list[Connection], processes: list[Any], sockets: int) -> None:
        self.pipes, self.processes, self.sockets = pipes, processes, sockets

    @classmethod
    @asynccontextmanager
    async def start(
        cls, ws_urls: list[str], sockets: int, processes: int, token: str, deflate: bool = False
    ) -> AsyncIterator[Clients]:
        """`sockets` acknowledged sockets (socket i to ws_urls[i % len]) over `processes` processes."""
        raise_nofile()
        init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        context = mp.get_context("spawn")  # a fresh interpreter: nothing of the parent's loop or sockets
        pipes, children = [], []
        for number in range(processes):
            parent, child = context.Pipe()
            indices = list(range(number, sockets, processes))
            process = context.Process(
                target=child_main, args=(child, ws_urls, indices, init, deflate), daemon=True
            )
            process.start()
            child.close()
            pipes.append(parent)
            children.append(process)
        clients = cls(pipes, children, sockets)
        try:
            await clients._all("connect")
            yield clients
        finally:
            await clients._close()

    async def _one(self, pipe: Connection, command: tuple[Any, ...]) -> Any:
        pipe.send(command)
        status, answer = await asyncio.to_thread(pipe.recv)
        if status != "ok":
            raise RuntimeError(f"a client process failed: {answer}")
        return answer

    async def _all(self, *command: Any) -> list[Any]:
        return list(await asyncio.gather(*(self._one(pipe, command) for pipe in self.pipes)))

    async def subscribe(self, jobs: list[str], per_socket: int = 1, first_slot: int = 0) -> int:
        """`per_socket` more subscriptions on every socket (slots from `first_slot`); returns once each
        has had its first message (the job's current state). Subscription k of socket i follows
        jobs[(i + k) % len(jobs)]: one per socket is jobs[i % len(jobs)]."""
        return sum(await self._all("subscribe", jobs, first_slot, per_socket))

    async def mark(self) -> None:
        """From now: the receipts, CPU and wall time that collect() reports."""
        await self._all("mark")

    async def wait_complete(self, limit: float) -> int:
        """Until the server has completed every subscription, or `limit` seconds; returns those still open."""
        return sum(await self._all("wait_complete", limit))

    async def collect(self) -> Figures:
        processes: list[ProcessFigures] = await self._all("collect")
        latencies: list[float] = []
        times: list[float] = []
        for figures in processes:
            latencies += array("d", figures.latencies)
            times += array("d", figures.times)
        errors = [error for figures in processes for error in figures.errors]
        if errors:
            raise RuntimeError(f"{len(errors)} subscription errors, the first: {errors[0]}")
        return Figures(latencies, times, processes)

    async def _close(self) -> None:
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            if process.is_alive():
                with suppress(EOFError, OSError, RuntimeError):
                    await self._one(pipe, ("close",))
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.kill()
            pipe.close()
