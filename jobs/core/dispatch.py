"""Enqueue a job's task. Only the job id travels (and, in a header, the id of the request that
started it, for the logs): the worker reads everything else from the record, which exists
before the task is sent (C1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.core.logs import REQUEST_ID_HEADER
from jobs.core.names import TASK_NAMES, JobKind

if TYPE_CHECKING:
    # The API's and the sweeper's app; naming its type loads no Celery (the contract stays pure).
    from celery import Celery


def enqueue(app: Celery, kind: JobKind, job_id: str, request_id: str | None = None) -> None:
    # kombu publishes synchronously: callers on an event loop run this in a thread (C5).
    headers = {} if request_id is None else {REQUEST_ID_HEADER: request_id}
    app.send_task(TASK_NAMES[kind], args=[job_id], task_id=job_id, headers=headers)
