"""GraphQL types of a CV analysis: the shapes of jobs/analysis/report.py, mirrored, plus who
and what the analysis belongs to (its `meta`, laid flat)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.domain.mirror import mirror
from jobs.analysis import report


@mirror(
    report.CvAnalysis,
    description="The offline analysis of a CV; the README explains how each score is made.",
    flatten=("meta",),
)
class CvAnalysis:
    id: strawberry.ID
    job_id: strawberry.ID
    questionnaire_id: strawberry.ID | None = None
    created_at: datetime
