"""The keepalive clock (graph/live/keepalive.py): a silent socket is pinged, then closed if it stays
silent; one that speaks is left alone; sockets that joined at once are pinged a slot at a time."""

from __future__ import annotations

import asyncio
import itertools

from graph.live.keepalive import CLOSE_CODE, KeepaliveClock

INTERVAL, TICK = 0.2, 0.05  # four slots


class Socket:
    def __init__(self, clock: KeepaliveClock, closed: asyncio.Event | None = None) -> None:
        self.pinged_at: list[float] = []
        self.closed_with: int | None = None
        self._closed = closed
        self.keepalive = clock.join(self.ping, self.close)

    async def ping(self) -> None:
        self.pinged_at.append(asyncio.get_running_loop().time())

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code
        if self._closed is not None:
            self._closed.set()


async def test_a_silent_socket_is_pinged_then_closed_and_a_speaking_one_is_not():
    clock = KeepaliveClock(INTERVAL, TICK)
    closed = asyncio.Event()
    silent = Socket(clock, closed)
    speaking = Socket(clock)

    async def speak() -> None:
        while True:
            speaking.keepalive.heard()
            await asyncio.sleep(TICK / 2)

    talker = asyncio.create_task(speak())
    try:
        await asyncio.wait_for(closed.wait(), 10 * INTERVAL)
    finally:
        talker.cancel()
        await clock.stop()
    assert len(silent.pinged_at) == 1 and silent.closed_with == CLOSE_CODE
    assert speaking.pinged_at == [] and speaking.closed_with is None
    assert clock.size == 1  # the closed one left the clock


async def test_sockets_that_join_at_once_are_pinged_a_slot_at_a_time():
    clock = KeepaliveClock(INTERVAL, TICK)
    all_pinged = asyncio.Event()
    sockets: list[Socket] = []

    class Counted(Socket):
        async def ping(self) -> None:
            await super().ping()
            if all(s.pinged_at for s in sockets):
                all_pinged.set()

    sockets.extend(Counted(clock) for _ in range(40))
    try:
        await asyncio.wait_for(all_pinged.wait(), 10 * INTERVAL)
    finally:
        await clock.stop()
    # Pings of one tick go out within a turn or two of the loop; ticks are TICK apart.
    times = sorted(s.pinged_at[0] for s in sockets)
    ticks = 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > TICK / 2)
    assert ticks == 4  # one per slot, ten sockets each: never all forty at once
