"""GraphQL types of a CV analysis: the shapes of jobs/analysis/report.py, mirrored, plus who
and what the analysis belongs to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import strawberry

from graph.domain.mirror import build, mirror
from jobs.analysis import report

_Analysis: type = mirror(
    report.CvAnalysis,
    name="CvAnalysis",
    description="The offline analysis of a CV; the README explains how each score is made.",
    exclude=("meta",),
    extra={
        "id": strawberry.ID,
        "job_id": strawberry.ID,
        "questionnaire_id": strawberry.ID | None,
        "created_at": datetime,
    },
)
if TYPE_CHECKING:
    CvAnalysis = Any  # made at run time, from the dataclass
else:
    CvAnalysis = _Analysis


def analysis_of(document: dict[str, Any]) -> Any:
    meta = document["meta"]
    return build(
        _Analysis,
        {
            **document,
            "id": meta["id"],
            "job_id": meta["job_id"],
            "questionnaire_id": meta.get("questionnaire_id"),
            "created_at": datetime.fromtimestamp(meta["created_at"], tz=UTC),
        },
    )
