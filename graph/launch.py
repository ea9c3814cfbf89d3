"""Starting a job from a mutation (C1): the record exists before its task is enqueued."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from graph.context import Services
from jobs.dispatch import enqueue
from jobs.errors import Unavailable
from jobs.events import ErrorInfo
from jobs.names import JobKind
from jobs.records import JobRecord

log = logging.getLogger(__name__)


async def start_job(services: Services, kind: JobKind, owner: str, job_input: dict[str, Any]) -> JobRecord:
    record = await services.store.create(kind, owner, job_input)
    try:
        # kombu's publish is blocking I/O: keep it off the event loop (C5).
        await asyncio.to_thread(enqueue, services.celery, kind, record.id)
    except Exception as e:
        log.exception("could not enqueue job %s", record.id)
        await services.store.fail(record.id, ErrorInfo("ENQUEUE_FAILED", "the job could not be queued"))
        raise Unavailable("the job queue is unavailable; try again shortly") from e
    return record
