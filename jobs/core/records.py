"""A job's record as read from its Redis hash, shared by the API and the workers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobs.core.events import ErrorInfo, as_text
from jobs.core.hashes import from_hash
from jobs.core.names import JobKind, JobState
from jobs.core.quotas import Plan


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    kind: JobKind
    state: JobState
    seq: int
    created_at: float
    updated_at: float
    owner: str = ""
    progress: int = 0
    stage: str | None = None
    message: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    # What the job produced, by kind (jobs/work/tasks.py): text and model of a rewrite, ids of the
    # objects it stored.
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    attempts: int = 0
    redeliveries: int = 0
    runner: str | None = None
    # The owner's plan when the job was created: its queue, now and when its task is sent again
    # (jobs/core/dispatch.py). Records written before plans were kept, or with a plan since retired,
    # read as Free (`Plan.stored`).
    plan: Plan = Plan.FREE

    @classmethod
    def from_hash(cls, raw: Mapping[bytes | str, bytes | str]) -> JobRecord:
        fields = {as_text(k): v for k, v in raw.items()}
        plan = fields.get("plan")
        return from_hash(cls, fields, plan=Plan.stored(as_text(plan) if plan is not None else None))
