"""Enqueue a job's task. Only the job id travels: the worker reads everything else from the
record, which exists before the task is sent (C1)."""

from __future__ import annotations

from celery import Celery

from jobs.names import TASK_NAMES, JobKind


def enqueue(app: Celery, kind: JobKind, job_id: str) -> None:
    # kombu publishes synchronously: callers on an event loop run this in a thread (C5).
    app.send_task(TASK_NAMES[kind], args=[job_id], task_id=job_id)
