"""The work of an EXTRACT_RESUME job: the uploaded file's text, pages and words, stored with the
upload (and so with its questionnaire).

The file is read in the extraction sandbox (a child process with CPU, memory and time budgets).
A file that cannot be extracted is deleted at once, its bytes given back to the STORAGE quota:
the upload's record keeps its state (FAILED) and the job its error."""

from __future__ import annotations

from dataclasses import replace

from jobs.core.errors import Superseded, WorkFailed
from jobs.core.events import as_bytes
from jobs.core.names import Stage
from jobs.core.outcome import Outcome, Writes
from jobs.core.questionnaires import Resume, ResumeState, drop_resume_file, save_resume
from jobs.core.records import JobRecord
from jobs.documents.sandbox import extract_isolated
from jobs.work.context import WorkerContext
from jobs.work.run import JobRun


def extract_resume(run: JobRun, ctx: WorkerContext, job: JobRecord) -> Outcome:
    keys = ctx.keys
    resume_id = job.input["resume_id"]
    raw = ctx.redis.hgetall(keys.resume(resume_id))
    content = ctx.redis.get(keys.resume_file(resume_id))
    if not raw or content is None:
        raise WorkFailed("the uploaded file was replaced or deleted before it was read", code="UPLOAD_GONE")
    resume = Resume.from_hash(raw)
    run.progress(
        2, Stage.EXTRACTING, f"Reading {resume.filename} ({resume.format.value}, {resume.size} bytes)"
    )

    def page_done(page: int, pages: int) -> None:
        run.progress(2 + page * 93 // pages, Stage.EXTRACTING, f"Read page {page} of {pages}")

    settings = ctx.settings
    try:
        found = extract_isolated(
            resume.format,
            as_bytes(content),
            max_pages=settings.resume_max_pages,
            max_chars=settings.cv_text_max_chars,
            progress=page_done,
            time_limit=settings.extract_time_limit_seconds,
            memory_mb=settings.extract_memory_limit_mb,
        )
    except Superseded:
        raise  # another run of this job reads the file now
    except Exception:
        # The file's fault (WorkFailed), ours, or a cancel: no run will read it again.
        _fail_upload(ctx, replace(resume, state=ResumeState.FAILED))
        raise
    extracted = replace(
        resume,
        state=ResumeState.EXTRACTED,
        text=found.text,
        pages=found.pages,
        words=found.words,
        layout=found.layout,
    )
    run.progress(97, Stage.FINALIZING, f"Extracted {found.words} words from {found.pages} page(s)")
    # The text is stored with the success (jobs/core/outcome.py), and only onto a record that is still
    # there: a newer upload deletes this one, and writing then would bring back a half record.
    writes = Writes()
    writes.update_if_exists(keys.resume(resume.id), extracted.to_hash())
    result = {
        "resume_id": resume.id,
        "questionnaire_id": resume.questionnaire_id,
        "pages": found.pages,
        "words": found.words,
    }
    return Outcome(result, writes)


def _fail_upload(ctx: WorkerContext, resume: Resume) -> None:
    """Mark the upload FAILED (if it is still there) and delete its file."""
    with ctx.redis.pipeline() as pipe:
        drop_resume_file(pipe, ctx.keys, resume.owner, resume.id)
        # A newer upload deletes this one; writing now would bring back a half record.
        if ctx.redis.exists(ctx.keys.resume(resume.id)):
            save_resume(pipe, ctx.keys, resume)
        pipe.execute()
