"""Ownership (C7): another user's job answers exactly like one that does not exist."""

from __future__ import annotations

from graph.context import Context
from jobs.core.errors import NotFound
from jobs.core.records import JobRecord


async def owned_job(context: Context, job_id: str) -> JobRecord:
    record = await context.services.store.get(job_id)  # NotFound when missing
    if record.owner != context.user_id:
        raise NotFound(f"job {job_id} does not exist")
    return record
