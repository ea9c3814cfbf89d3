"""Uploading a CV for a questionnaire: refused at once when its bytes are not a PDF, a DOCX or
plain text; otherwise stored in Redis (any worker can read it, C9) and extracted by a job."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from graph.context import Context
from graph.domain import validation
from graph.domain.cv_types import Resume
from graph.domain.launch import start_job
from graph.domain.mirror import build
from graph.domain.types import Job
from jobs.core import questionnaires, storage
from jobs.core.errors import InvalidInput, RateLimited, TooBusy
from jobs.core.names import JobKind
from jobs.core.questionnaires import Questionnaire, ResumeState
from jobs.core.quotas import Scope
from jobs.core.records import JobRecord
from jobs.cv.text import strip_html
from jobs.documents.sniff import detect_format

FILENAME_MAX_CHARS = 255


def no_cv_text() -> InvalidInput:
    return InvalidInput(
        "cvText",
        "the questionnaire has no extracted CV yet: upload one and wait for its extraction, or pass cvText",
        code="NO_CV_TEXT",
    )


async def extracted_resume(context: Context, questionnaire: Questionnaire) -> questionnaires.Resume | None:
    """The questionnaire's CV once its text is extracted; None before (or without an upload)."""
    if questionnaire.resume_id is None:
        return None
    resume = await context.services.cv.resume(context.user_id, questionnaire.resume_id)
    return resume if resume.state is ResumeState.EXTRACTED else None


@strawberry.type
class UploadResumePayload:
    resume: Resume
    job: Job = strawberry.field(description="The EXTRACT_RESUME job; follow it with jobUpdates.")


async def read_upload(file: UploadFile, max_bytes: int) -> bytes:
    # The upload gate (graph/edges/uploads.py) refuses bigger files while they stream; this holds even
    # when the schema is served some other way.
    content = await file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise InvalidInput("file", f"files are limited to {max_bytes} bytes", code="FILE_TOO_LARGE")
    return content


@strawberry.type
class ResumeMutation:
    @strawberry.mutation(
        description="Upload a CV (PDF, DOCX or plain text, up to 10 MB) for a questionnaire of yours, "
        "replacing any earlier one; its text is extracted by the returned job. Send it as a GraphQL "
        "multipart request with an Apollo-Require-Preflight header."
    )
    async def upload_resume(
        self, info: Info[Context, None], questionnaire_id: strawberry.ID, file: Upload
    ) -> UploadResumePayload | None:
        services, user = info.context.services, info.context.user_or_raise
        questionnaire = await services.cv.questionnaire(
            user.id, validation.object_id(questionnaire_id, "questionnaireId", "questionnaire")
        )
        if not isinstance(file, UploadFile):
            # A multipart part without a filename arrives as a form field (a string), not a file.
            raise InvalidInput(
                "file", "the file part carries no filename; send the CV as a file (with a filename)"
            )
        content = await read_upload(file, services.settings.upload_max_bytes)
        # Telling a 10 MB file's format reads all of it: off the event loop (C5).
        fmt = await asyncio.to_thread(detect_format, content)
        resume = questionnaires.Resume(
            id=str(uuid.uuid4()),
            owner=user.id,
            questionnaire_id=questionnaire.id,
            filename=strip_html(file.filename or "")[:FILENAME_MAX_CHARS] or "cv",
            format=fmt,
            size=len(content),
            uploaded_at=time.time(),
        )
        stored: list[questionnaires.Resume] = []

        async def attach(record: JobRecord) -> None:
            await services.cv.attach_resume(questionnaire, replace(resume, job_id=record.id), content)
            stored.append(replace(resume, job_id=record.id))

        # Its bytes count against the STORAGE quota from the job's creation (charged with it, or
        # refused with nothing charged) until they are deleted; if the job is created but never
        # gets going, they go again at once.
        size, replacing = len(content), questionnaire.resume_id
        stored_bytes = storage.charge(services.keys, user.id, user.plan, size, replacing)
        job_input = {"resume_id": resume.id, "questionnaire_id": questionnaire.id}
        try:
            record = await start_job(
                services, JobKind.EXTRACT_RESUME, user, job_input, Scope.UPLOADS, attach, [stored_bytes]
            )
        except (RateLimited, TooBusy, asyncio.CancelledError):
            # Refused by the creating script: nothing was charged. Or the caller left: the launch
            # goes on by itself (graph/domain/launch.py) and either enqueues the job with its file or
            # is refused with nothing charged.
            raise
        except Exception:
            if stored:
                await services.cv.drop_resume_file(user.id, resume.id)
            else:
                await services.cv.release_storage(user.id, len(content))
            raise
        return UploadResumePayload(resume=build(Resume, stored[0]), job=build(Job, record))
