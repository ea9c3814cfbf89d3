"""deleteMyData: erase everything we hold about the caller.

Their unfinished jobs are cancelled first (each gets its CANCELLED event, so every stream
following one ends as after any cancel, and their workers stop), then one script deletes every
key of theirs (jobs/core/deletes.py, EVERYTHING) and a message on their channel ends their other
live streams on every replica (ACCOUNT_ERASED). A worker still finishing one of their jobs writes
nothing back: its writes are fenced on the job's record, which is gone. Quota counters stay until
they expire: they hold a number, and deleting them would hand the caller fresh quotas."""

from __future__ import annotations

import contextlib
import logging

from graph.context import Services
from jobs.core.deletes import ERASED_MESSAGE, EVERYTHING
from jobs.core.errors import JobClosed, NotFound
from jobs.core.events import as_text

log = logging.getLogger(__name__)


async def erase_account(services: Services, owner: str) -> int:
    """Erase the owner's data; the number of jobs erased."""
    keys = services.keys
    for job_id in await services.redis.smembers(keys.user_active_jobs(owner)):
        with contextlib.suppress(JobClosed, NotFound):
            await services.store.cancel(as_text(job_id))
    erased = await services.store.delete(owner, [EVERYTHING])
    await services.redis.publish(keys.user_channel(owner), ERASED_MESSAGE)  # their streams end
    await services.redis.publish(keys.user_erased_channel(owner), ERASED_MESSAGE)  # their sockets close
    if services.settings.rewrites_aof_after_erase:
        await rewrite_aof(services)
    return len(erased)


async def rewrite_aof(services: Services) -> None:
    """Ask Redis to rewrite its AOF so the erased data leaves the disk too; one already under way
    (or scheduled) serves as well, since it snapshots after our deletes."""
    try:
        await services.redis.bgrewriteaof()
    except Exception as e:
        log.info("BGREWRITEAOF after an erasure: %s", e)
