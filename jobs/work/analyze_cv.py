"""The work of an ANALYZE_CV job, and the analysis stage that opens every IMPROVE_CV job."""

from __future__ import annotations

import json
import time
import uuid

from jobs.analysis import AnalysisInput, CvAnalysis, analyze
from jobs.core.names import Stage
from jobs.core.outcome import Outcome, Writes
from jobs.core.records import JobRecord
from jobs.work.context import WorkerContext
from jobs.work.run import JobRun


def analyze_cv(run: JobRun, ctx: WorkerContext, job: JobRecord) -> Outcome:
    writes = Writes()
    source = AnalysisInput(**job.input["source"])
    # The score is this job's outcome: its step is not passing, and shows before SUCCEEDED.
    analysis_id = analyze_and_store(run, ctx, job, source, progress_to=95, writes=writes, passing=False)
    result = {"analysis_id": analysis_id, "questionnaire_id": job.input.get("questionnaire_id")}
    return Outcome(result, writes)


def analyze_and_store(
    run: JobRun,
    ctx: WorkerContext,
    job: JobRecord,
    source: AnalysisInput,
    progress_to: int,
    writes: Writes,
    passing: bool,
) -> str:
    """Analyse, report the headline figures as progress (`passing`: a step of a longer job,
    which may be folded into its next; see jobs/work/run.py), and record the writes that keep the
    analysis with its questionnaire (when there is one), made when the job succeeds."""
    words = len(source.cv_text.split())
    # Replaced by the score within milliseconds, unless the analysis of a long CV takes a while.
    run.progress(max(1, progress_to // 3), Stage.ANALYZING, f"Analysing the CV ({words} words)", passing=True)
    analysis = analyze(source)
    run.progress(progress_to, Stage.ANALYZING, summary(analysis), passing=passing)
    analysis_id = str(uuid.uuid4())
    questionnaire_id = job.input.get("questionnaire_id")
    document = analysis.to_document()
    document["meta"] = {
        "id": analysis_id,
        "owner": job.owner,
        "questionnaire_id": questionnaire_id,
        "job_id": job.id,
        "created_at": time.time(),
    }
    writes.set(ctx.keys.analysis(analysis_id), json.dumps(document))
    if questionnaire_id:
        writes.lpush(ctx.keys.questionnaire_analyses(questionnaire_id), analysis_id)
    return analysis_id


def summary(analysis: CvAnalysis) -> str:
    return (
        f"Score {analysis.overall_score}/100: keywords {analysis.keyword_match.percent}%, "
        f"ATS {analysis.ats_compatibility}%, "
        f"{analysis.quantified_bullets} of {analysis.bullets} bullets quantified"
    )
