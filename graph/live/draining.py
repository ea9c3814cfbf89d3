"""Knowing that the process is stopping, before uvicorn starts waiting for open responses.

On SIGTERM uvicorn stops accepting, closes idle connections and WebSockets (1012), then waits
for responses under way, and an HTTP subscription stream is never done by itself: it would be
cut at `--timeout-graceful-shutdown` with an error logged for each. uvicorn tells the
application nothing before its lifespan shutdown, which comes after that wait; so the signal
handler uvicorn installed is wrapped (once, at startup), and on the signal every stream that
registered here is woken to end with a final SERVICE_UNAVAILABLE event: its client resubscribes
with `afterSeq`, on another replica.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any]


class Draining:
    def __init__(self) -> None:
        self.started = False
        self._waits: set[asyncio.Timeout] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Chains a handler in front of the server's own (called from the running loop's thread,
        after the server installed its handlers: the lifespan's startup)."""
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if callable(previous):
                signal.signal(sig, self._chained(previous))

    def _chained(self, previous: Handler) -> Handler:
        def handler(signum: int, frame: FrameType | None) -> None:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self.start)
            previous(signum, frame)

        return handler

    def start(self) -> None:
        """Wakes every registered wait at once (in the loop's thread)."""
        self.started = True
        now = asyncio.get_running_loop().time()
        for wait in self._waits:
            wait.reschedule(now)

    @contextmanager
    def cuts(self, wait: asyncio.Timeout) -> Iterator[None]:
        """`wait` (entered) expires at once when draining starts, or has started."""
        if self.started:
            wait.reschedule(asyncio.get_running_loop().time())
        self._waits.add(wait)
        try:
            yield
        finally:
            self._waits.discard(wait)
