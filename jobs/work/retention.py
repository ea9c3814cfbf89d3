"""Retention: finished jobs older than RETENTION_DAYS are erased with everything they made and
read (the same atomic delete as deleteJob, taking all its outputs: jobs/core/deletes.py).

Celery beat sends `jobs.apply_retention` every RETENTION_INTERVAL_SECONDS; any worker runs it. The
finished-jobs index (scored by when each job finished) says which are due; a sweep takes a bounded
batch at a time so one run never holds Redis long, and a job erased twice (two sweeps at once, or a
delete by its owner in between) is simply gone the second time.
"""

from __future__ import annotations

import time

from redis import Redis

from jobs.celery import RETENTION_TASK, celery
from jobs.core.deletes import DELETE_LUA, Outputs, delete_args, delete_keys, job_root
from jobs.core.events import as_text
from jobs.core.names import Keys
from jobs.work.context import worker_context

BATCH = 100
SECONDS_A_DAY = 86_400


def erase_due(redis: Redis, keys: Keys, retention_days: float, now: float) -> int:
    """Erases the finished jobs older than the retention (all of them, a batch at a time); how many."""
    cutoff = now - retention_days * SECONDS_A_DAY
    erased = 0
    while due := _due(redis, keys, cutoff):
        for job_id in due:
            owner = redis.hget(keys.job(job_id), "owner")
            if owner is None:  # deleted meanwhile: only its index entry is left
                redis.zrem(keys.finished_jobs, job_id)
                continue
            delete = delete_keys(keys, as_text(owner))
            redis.eval(DELETE_LUA, len(delete), *delete, *delete_args(keys, Outputs.ALL, [job_root(job_id)]))
            erased += 1
    return erased


def _due(redis: Redis, keys: Keys, cutoff: float) -> list[str]:
    """The next batch of finished jobs that finished before `cutoff`."""
    due: list[bytes] = redis.zrangebyscore(keys.finished_jobs, "-inf", cutoff, 0, BATCH)  # type: ignore[assignment]
    return [as_text(job_id) for job_id in due]


@celery.task(name=RETENTION_TASK, ignore_result=True)
def apply_retention() -> int:
    context = worker_context()
    days = context.settings.retention_days
    if days is None:
        return 0
    return erase_due(context.redis, context.keys, days, time.time())
