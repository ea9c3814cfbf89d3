"""Celery tasks: thin shells that claim a job, run its work, and report how it ended."""

from __future__ import annotations

import contextlib
import logging
from functools import cache
from typing import Any

from celery import Task
from redis import Redis

from jobs.app import celery
from jobs.engines import Engine, ImproveRequest, select_engine
from jobs.errors import JobClosed, PermanentAIError, Superseded, TransientAIError
from jobs.events import ErrorInfo
from jobs.improve import improve_cv
from jobs.names import TASK_NAMES, JobKind, Keys
from jobs.run import JobRun
from settings import Settings, get_settings

log = logging.getLogger(__name__)


@cache
def _redis() -> Redis:
    return Redis.from_url(get_settings().redis_url, health_check_interval=30)


@cache
def _engine() -> Engine:
    return select_engine(get_settings())


@celery.task(bind=True, name=TASK_NAMES[JobKind.IMPROVE_CV], max_retries=None)
def improve_cv_task(self: Task[Any, Any], job_id: str) -> None:
    settings = get_settings()
    run = JobRun(_redis(), Keys(settings.key_prefix), settings.event_log_max, job_id)
    record = run.start(settings.job_max_redeliveries)
    if record is None:
        log.info("job %s: nothing to do (missing, finished or given up)", job_id)
        return
    request = ImproveRequest(**record.input)
    try:
        result = improve_cv(run, request, _engine(), settings.stream_flush_chars, settings.stream_flush_ms)
        run.succeed(result)
    except (JobClosed, Superseded) as e:
        log.info("job %s: stopped: %s", job_id, e)
    except TransientAIError as e:
        _retry_or_fail(self, run, e, settings)
    except PermanentAIError as e:
        _end_quietly(run, ErrorInfo(e.code, e.message))
    except Exception as e:
        log.exception("job %s failed", job_id)
        _end_quietly(run, ErrorInfo("INTERNAL", f"the job failed unexpectedly ({type(e).__name__})"))


def _retry_or_fail(task: Task[Any, Any], run: JobRun, error: TransientAIError, settings: Settings) -> None:
    retries = task.request.retries
    if retries >= settings.ai_max_retries:
        _end_quietly(run, ErrorInfo(error.code, f"{error.message} (gave up after {retries + 1} attempts)"))
        return
    backoff = min(settings.ai_retry_base_seconds * 2**retries, settings.ai_retry_max_seconds)
    # The server's Retry-After wins over our own backoff (capped, so a bad header cannot park a job).
    delay = backoff if error.retry_after is None else min(error.retry_after, settings.ai_retry_max_seconds)
    try:
        run.retrying(ErrorInfo(error.code, error.message), delay, retries + 1)
    except (JobClosed, Superseded):
        return
    raise task.retry(countdown=delay, exc=error)


def _end_quietly(run: JobRun, error: ErrorInfo) -> None:
    with contextlib.suppress(JobClosed, Superseded):
        run.fail(error)
