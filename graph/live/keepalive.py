"""Pings for idle graphql-transport-ws sockets (the protocol's own `ping`/`pong`).

A socket whose client went away without a close (a laptop lid, a dropped mobile link) looks
open until TCP gives up, minutes later, holding its subscriptions and its place in the user's
socket cap; and proxies cut connections that stay silent. So a socket that has sent nothing for
`WS_PING_INTERVAL_SECONDS` gets a `ping`, and one that has not answered it (nor sent anything)
by the next interval is closed. Clients of graphql-ws answer pings by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

CLOSE_CODE = 1001  # going away: the peer stopped answering


class Keepalive:
    def __init__(
        self,
        interval: float,
        ping: Callable[[], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self._interval = interval
        self._ping = ping
        self._close = close
        self._heard = True  # from the client since the last check
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def heard(self) -> None:
        """Any message from the client (a pong included) shows it is there."""
        self._heard = True

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        awaiting = False
        while True:
            # A timer: pings go to sockets that stay silent, which no event announces.
            await asyncio.sleep(self._interval)
            if self._heard:
                self._heard, awaiting = False, False
                continue
            if awaiting:
                with contextlib.suppress(Exception):
                    await self._close(CLOSE_CODE, f"no answer to a ping within {self._interval:g} s")
                return
            await self._ping()
            awaiting = True
