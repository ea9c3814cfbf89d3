"""A job's record as read from its Redis hash, shared by the API and the workers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobs.events import ErrorInfo, as_text
from jobs.names import JobKind, JobState


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    kind: JobKind
    owner: str
    state: JobState
    seq: int
    progress: int
    stage: str | None
    message: str | None
    input: dict[str, Any]
    # What the job produced, by kind (jobs/tasks.py): text and model of a rewrite, ids of the
    # objects it stored.
    result: dict[str, Any] | None
    error: ErrorInfo | None
    attempts: int
    redeliveries: int
    runner: str | None
    charge: str | None  # the quota counter this job was charged to
    created_at: float
    updated_at: float

    @classmethod
    def from_hash(cls, raw: Mapping[bytes | str, bytes | str]) -> JobRecord:
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        result = json.loads(h["result"]) if h.get("result") else None
        error = json.loads(h["error"]) if h.get("error") else None
        return cls(
            id=h["id"],
            kind=JobKind(h["kind"]),
            owner=h.get("owner", ""),
            state=JobState(h["state"]),
            seq=int(h["seq"]),
            progress=int(h.get("progress", 0)),
            stage=h.get("stage") or None,
            message=h.get("message") or None,
            input=json.loads(h.get("input", "{}")),
            result=result or None,
            error=ErrorInfo(**error) if error else None,
            attempts=int(h.get("attempts", 0)),
            redeliveries=int(h.get("redeliveries", 0)),
            runner=h.get("runner") or None,
            charge=h.get("charge") or None,
            created_at=float(h["created_at"]),
            updated_at=float(h["updated_at"]),
        )
