"""The work of a RENDER_PDF job: an AI response as an A4 PDF, stored in Redis so that any API
replica can serve it to its owner."""

from __future__ import annotations

import time
import uuid

from jobs.core.errors import WorkFailed
from jobs.core.names import Stage
from jobs.core.outcome import Outcome, Writes
from jobs.core.outputs import AIResponse, PdfFile, download_path, save_pdf
from jobs.core.records import JobRecord
from jobs.documents.render import render_pdf
from jobs.work.context import WorkerContext
from jobs.work.run import JobRun


def render_response_pdf(run: JobRun, ctx: WorkerContext, job: JobRecord) -> Outcome:
    response_id = job.input["response_id"]
    raw = ctx.redis.hgetall(ctx.keys.response(response_id))
    if not raw:
        raise WorkFailed("the response was deleted before it was rendered", code="RESPONSE_GONE")
    response = AIResponse.from_hash(raw)
    run.progress(10, Stage.RENDERING, f"Rendering {len(response.text)} characters of Markdown on A4")
    rendered = render_pdf(response.text)
    pdf = PdfFile(
        id=str(uuid.uuid4()),
        owner=job.owner,
        response_id=response_id,
        size=len(rendered.content),
        pages=rendered.pages,
        created_at=time.time(),
    )
    run.progress(90, Stage.FINALIZING, f"Rendered {pdf.pages} page(s), {pdf.size} bytes")
    writes = Writes()
    save_pdf(writes, ctx.keys, pdf, rendered.content)
    result = {"pdf_id": pdf.id, "response_id": response_id, "url": download_path(pdf.id), "size": pdf.size}
    return Outcome(result, writes)
