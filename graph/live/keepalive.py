"""Pings for idle graphql-transport-ws sockets (the protocol's own `ping`/`pong`).

A socket whose client went away without a close (a laptop lid, a dropped mobile link) looks
open until TCP gives up, minutes later, holding its subscriptions and its place in the user's
socket cap; and proxies cut connections that stay silent. So a socket that has sent nothing for
a whole `WS_PING_INTERVAL_SECONDS` gets a `ping`, and one that has not answered it (nor sent
anything) by the next tick is closed. Clients of graphql-ws answer pings by themselves.

One clock serves every socket of the process: a task and a timer per socket would cost each idle
socket a few KiB (issue 13's memory target is per idle socket), where an entry here costs a
small object. Sockets are spread over slots, one slot looked at per tick (a timing wheel), so
each socket is looked at once an interval and the pings of thousands of idle sockets go out a
slot at a time, never all in one turn of the loop. The price is phase: a silent socket is pinged
between one and two intervals after it went quiet, and closed one interval after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

CLOSE_CODE = 1001  # going away: the peer stopped answering
# A tick at most this often: an interval of 30 s is 60 slots, 5,000 sockets about 83 a tick.
TICK_SECONDS = 0.5


class Keepalive:
    """One socket's place on the clock."""

    __slots__ = ("_awaiting", "_clock", "_close", "_heard", "_ping", "slot")

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
        self.slot = 0

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
    def __init__(self, interval: float, tick: float = TICK_SECONDS) -> None:
        self.interval = interval
        self._slots: list[set[Keepalive]] = [set() for _ in range(max(1, round(interval / tick)))]
        self._next = 0  # the slot the next tick looks at
        self._joined = 0
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._spawned: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        return sum(len(slot) for slot in self._slots)

    def join(
        self, ping: Callable[[], Awaitable[None]], close: Callable[[int, str], Awaitable[None]]
    ) -> Keepalive:
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="keepalive-clock")
        member = Keepalive(self, ping, close)
        # In turn, not by the time of joining: sockets that all connect at once (a deploy, a
        # reconnect storm) are still spread over the slots.
        member.slot = self._joined % len(self._slots)
        self._joined += 1
        self._slots[member.slot].add(member)
        return member

    def leave(self, member: Keepalive) -> None:
        self._slots[member.slot].discard(member)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # Held until done: the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def stop(self) -> None:
        self._stopped = True
        for task in [self._task, *self._spawned]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    async def _run(self) -> None:
        tick = self.interval / len(self._slots)
        while True:
            # A timer: pings go to sockets that stay silent, which no event announces.
            await asyncio.sleep(tick)
            slot, self._next = self._slots[self._next], (self._next + 1) % len(self._slots)
            for member in list(slot):
                try:
                    member.tick(self.interval)
                except Exception:
                    # One socket's trouble must not end the keepalive of every other one.
                    log.exception("keepalive tick failed")


async def _quietly(work: Awaitable[None]) -> None:
    # A socket that is already gone has nothing to ping or close.
    with contextlib.suppress(Exception):
        await work
