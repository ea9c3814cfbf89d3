"""Celery tasks: thin shells that claim a job, run its work, and report how it ended.

Each work function takes the run, the worker's context and the job's record, reports progress
through the run, and returns the job's result; it raises `WorkFailed` (the input cannot be
processed), `PermanentAIError` (fail) or `TransientAIError` (retry with backoff).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Reject

from jobs.celery import celery
from jobs.core import logs
from jobs.core.errors import JobClosed, PermanentAIError, Superseded, TransientAIError, WorkFailed
from jobs.core.events import ErrorInfo
from jobs.core.names import TASK_NAMES, JobKind, JobState
from jobs.core.outcome import Outcome
from jobs.core.records import JobRecord
from jobs.work.analyze_cv import analyze_cv
from jobs.work.context import WorkerContext, worker_context
from jobs.work.export_data import export_data
from jobs.work.extract_resume import extract_resume
from jobs.work.improve_cv import improve_cv
from jobs.work.lease import LeaseHeld
from jobs.work.metrics import worker_metrics
from jobs.work.render_pdf import render_response_pdf
from jobs.work.run import LOST_CONNECTION, JobRun
from settings import Settings

log = logging.getLogger(__name__)

Work = Callable[[JobRun, WorkerContext, JobRecord], Outcome]


@celery.task(bind=True, name=TASK_NAMES[JobKind.IMPROVE_CV], max_retries=None)
def improve_cv_task(self: Task[Any, Any], job_id: str) -> None:
    _run_job(self, job_id, improve_cv)


@celery.task(bind=True, name=TASK_NAMES[JobKind.EXTRACT_RESUME], max_retries=None)
def extract_resume_task(self: Task[Any, Any], job_id: str) -> None:
    _run_job(self, job_id, extract_resume)


@celery.task(bind=True, name=TASK_NAMES[JobKind.ANALYZE_CV], max_retries=None)
def analyze_cv_task(self: Task[Any, Any], job_id: str) -> None:
    _run_job(self, job_id, analyze_cv)


@celery.task(bind=True, name=TASK_NAMES[JobKind.RENDER_PDF], max_retries=None)
def render_pdf_task(self: Task[Any, Any], job_id: str) -> None:
    _run_job(self, job_id, render_response_pdf)


@celery.task(bind=True, name=TASK_NAMES[JobKind.EXPORT], max_retries=None)
def export_data_task(self: Task[Any, Any], job_id: str) -> None:
    _run_job(self, job_id, export_data)


def _run_job(task: Task[Any, Any], job_id: str, work: Work) -> None:
    ctx = worker_context()
    run = ctx.run(job_id)
    try:
        record = run.start(ctx.settings.job_max_redeliveries)
    except LeaseHeld as held:
        # A copy a broker reconnect restored while the job's runner is alive: not a lost worker.
        # Looked at again once the lease could have lapsed; by then the job has usually ended.
        log.info("job %s: %s; checking again then", job_id, held)
        again = {logs.REQUEST_ID_HEADER: logs.current("request_id")}
        # Back to the queue and priority it came from (its plan's: jobs/core/dispatch.py).
        came = task.request.delivery_info or {}
        task.apply_async(
            args=(job_id,),
            countdown=held.seconds + 0.5,
            headers=again,
            queue=came.get("routing_key"),
            priority=came.get("priority"),
        )
        return
    except LOST_CONNECTION as e:
        # Not acknowledged: the broker hands the task out again once Redis is back.
        raise Reject(f"Redis unreachable while starting job {job_id}: {e}", requeue=True) from e
    if record is None:
        log.info("job %s: nothing to do (missing, finished or given up)", job_id)
        return
    logs.add(user_hash=logs.user_hash(record.owner))
    began, outcome = time.monotonic(), "failed"
    with run.lease.kept(run.token):
        try:
            run.succeed(work(run, ctx, record))
            outcome = "succeeded"
        except (JobClosed, Superseded) as e:
            log.info("job %s: stopped: %s", job_id, e)
            outcome = "stopped"
            _count_if_cancelled(run)
        except LOST_CONNECTION as e:
            # Redis stayed away longer than REDIS_RETRY_SECONDS: the job's lease lapses, and the
            # sweeper (jobs/work/sweeper.py) sends its task again once Redis is back.
            log.error("job %s: Redis unreachable (%s); left to the sweeper", job_id, e)
            outcome = "redis_lost"
        except TransientAIError as e:
            outcome = "retrying"  # unless it returns: task.retry raises
            outcome = _retry_or_fail(task, run, e, ctx.settings)
        except (PermanentAIError, WorkFailed) as e:
            _end_quietly(run, ErrorInfo(e.code, e.message))
        except Exception as e:
            log.exception("job %s failed", job_id)
            _end_quietly(run, ErrorInfo("INTERNAL", f"the job failed unexpectedly ({type(e).__name__})"))
        finally:
            worker_metrics().run_time.labels(run.kind, outcome).observe(time.monotonic() - began)


def _count_if_cancelled(run: JobRun) -> None:
    # A cancel is the API's write; the worker sees it when it stops the job's run.
    with contextlib.suppress(*LOST_CONNECTION):
        record = run.load()
        if record is not None and record.state is JobState.CANCELLED:
            run.count_end(JobState.CANCELLED)


def _retry_or_fail(task: Task[Any, Any], run: JobRun, error: TransientAIError, settings: Settings) -> str:
    """How the run ended: failed (out of retries), stopped; or it raises Celery's Retry."""
    retries = task.request.retries
    if retries >= settings.ai_max_retries:
        _end_quietly(run, ErrorInfo(error.code, f"{error.message} (gave up after {retries + 1} attempts)"))
        return "failed"
    backoff = min(settings.ai_retry_base_seconds * 2**retries, settings.ai_retry_max_seconds)
    # The server's Retry-After wins over our own backoff (capped, so a bad header cannot park a job).
    delay = backoff if error.retry_after is None else min(error.retry_after, settings.ai_retry_max_seconds)
    try:
        run.retrying(ErrorInfo(error.code, error.message), delay, retries + 1)
    except (JobClosed, Superseded):
        return "stopped"
    raise task.retry(countdown=delay, exc=error)


def _end_quietly(run: JobRun, error: ErrorInfo) -> None:
    with contextlib.suppress(JobClosed, Superseded):
        run.fail(error)
