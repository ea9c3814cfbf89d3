"""Starting a job from a mutation (C1): the record exists before its task is enqueued; the
caller's quota is charged first and given back if the job never gets going."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from graph.auth import User
from graph.context import Services
from jobs.dispatch import enqueue
from jobs.errors import TooBusy, Unavailable
from jobs.events import ErrorInfo
from jobs.names import JobKind
from jobs.plans import Scope
from jobs.records import JobRecord

log = logging.getLogger(__name__)


async def start_job(
    services: Services,
    kind: JobKind,
    user: User,
    job_input: dict[str, Any],
    scope: Scope | None = None,
    before_enqueue: Callable[[JobRecord], Awaitable[None]] | None = None,
) -> JobRecord:
    """Charge `scope`, write the record, run `before_enqueue` (to store what the job will read,
    once a refused call can no longer leave it behind), then enqueue."""
    charge = await services.quotas.charge(scope, user) if scope is not None else None
    try:
        record = await services.store.create(
            kind,
            user.id,
            job_input,
            charge=charge.key if charge else None,
            active_limit=services.settings.max_active_jobs_per_user,
        )
    except TooBusy:
        if charge is not None:
            await services.quotas.uncharge(charge)
        raise
    try:
        if before_enqueue is not None:
            await before_enqueue(record)
        # kombu's publish is blocking I/O: keep it off the event loop (C5).
        await asyncio.to_thread(enqueue, services.celery, kind, record.id)
    except Exception as e:
        log.exception("could not enqueue job %s", record.id)
        # ENQUEUE_FAILED is ours: failing the job gives its quota unit back.
        await services.store.fail(record.id, ErrorInfo("ENQUEUE_FAILED", "the job could not be queued"))
        raise Unavailable("the job queue is unavailable; try again shortly") from e
    return record
