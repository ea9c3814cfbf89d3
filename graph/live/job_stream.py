"""A job's event stream for one subscriber (contract C3): lose nothing, repeat nothing.

Register for live events first, then read the log: an event published between the two is in
both, and `seq` tells which copy to skip. A jump in `seq` (or a reconnect of the listener) is
repaired from the log. The stream ends after the terminal event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from graph.domain.job_store import JobStore
from graph.live.listener import RESYNC, Listener, Subscriber
from jobs.core.errors import NotFound
from jobs.core.events import JobEvent
from jobs.core.names import Keys


async def job_events(
    listener: Listener, store: JobStore, keys: Keys, job_id: str, owner: str, after_seq: int | None
) -> AsyncGenerator[JobEvent, None]:
    async with listener.subscribe(keys.job_channel(job_id)) as inbox:
        replay = await store.replay(job_id, after_seq)
        if replay.record.owner != owner:
            raise NotFound(f"job {job_id} does not exist")
        last = after_seq if after_seq is not None else 0
        while True:
            for event in replay.events:
                if event.seq > last:
                    yield event
                    last = event.seq
            if replay.record.state.terminal and last >= replay.record.seq:
                return
            while (live := await _next_in_order(inbox, last)) is not None:
                yield live
                last = live.seq
                if live.state.terminal:
                    return
            replay = await store.replay(job_id, last)


async def _next_in_order(inbox: Subscriber, last: int) -> JobEvent | None:
    """The live event right after `last`; None when the log must be re-read."""
    while True:
        event = await inbox.next()
        if event is RESYNC or event.seq > last + 1:
            return None
        if event.seq == last + 1:
            return event
        # seq <= last: already sent from the log
