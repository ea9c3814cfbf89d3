"""Pings for idle graphql-transport-ws sockets (the protocol's own `ping`/`pong`).

A socket whose client went away without a close (a laptop lid, a dropped mobile link) looks
open until TCP gives up, minutes later, holding its subscriptions and its place in the user's
socket cap; and proxies cut connections that stay silent. So a socket that has sent nothing for
a whole `WS_PING_INTERVAL_SECONDS` gets a `ping`, and one that has not answered it (nor sent
anything) by the next tick is closed. Clients of graphql-ws answer pings by themselves.

One clock serves every socket of the process: a task and a timer per socket would cost each idle
socket a few KiB (issue 13's memory target is per idle socket), where an entry here costs a
small object. The price is phase: checks run on the clock's ticks, so a silent socket is pinged
between one and two intervals after it went quiet, and closed one interval after that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

CLOSE_CODE = 1001  # going away: the peer stopped answering


class Keepalive:
    """One socket's place on the clock."""

    __slots__ = ("_awaiting", "_clock", "_close", "_heard", "_ping")

    def __init__(
        self,
        clock: KeepaliveClock,
        ping: Callable[[], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self._clock = clock
        self._ping = ping
        self._close = close
        self._heard = True  # from the client since the last tick
        self._awaiting = False  # a ping went out and nothing came back yet

    def heard(self) -> None:
        """Any message from the client (a pong included) shows it is there."""
        self._heard = True

    def stop(self) -> None:
        self._clock.leave(self)

    def tick(self, interval: float) -> None:
        if self._heard:
            self._heard, self._awaiting = False, False
        elif self._awaiting:
            self._clock.leave(self)
            self._clock.spawn(_quietly(self._close(CLOSE_CODE, f"no answer to a ping within {interval:g} s")))
        else:
            self._awaiting = True
            self._clock.spawn(_quietly(self._ping()))


class KeepaliveClock:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._members: set[Keepalive] = set()
        self._task: asyncio.Task[None] | None = None
        self._spawned: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        return len(self._members)

    def join(
        self, ping: Callable[[], Awaitable[None]], close: Callable[[int, str], Awaitable[None]]
    ) -> Keepalive:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="keepalive-clock")
        member = Keepalive(self, ping, close)
        self._members.add(member)
        return member

    def leave(self, member: Keepalive) -> None:
        self._members.discard(member)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # Held until done: the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def stop(self) -> None:
        for task in [self._task, *self._spawned]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    async def _run(self) -> None:
        while True:
            # A timer: pings go to sockets that stay silent, which no event announces.
            await asyncio.sleep(self.interval)
            for member in list(self._members):
                member.tick(self.interval)


async def _quietly(work: Awaitable[None]) -> None:
    # A socket that is already gone has nothing to ping or close.
    with contextlib.suppress(Exception):
        await work
