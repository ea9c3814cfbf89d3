"""Coalesce a model's token stream into fewer, larger output events.

Models stream a few characters per chunk; one event per chunk would mean hundreds of Redis writes
and WebSocket frames per second per job. A delta is released when `max_chars` have gathered or
`max_ms` have passed since the last release, whichever comes first, and at the end. The first
chunk goes out at once, so the user sees the answer begin without delay. (Time is only checked
when a chunk arrives: if the model stalls, up to `max_chars` wait for its next chunk.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator


def coalesce(
    chunks: Iterable[str],
    max_chars: int,
    max_ms: int,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    pending: list[str] = []
    size = 0
    last_release = float("-inf")
    for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        size += len(chunk)
        now = clock()
        if size >= max_chars or (now - last_release) * 1000 >= max_ms:
            yield "".join(pending)
            pending, size, last_release = [], 0, now
    if pending:
        yield "".join(pending)
