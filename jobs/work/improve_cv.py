"""The work of an IMPROVE_CV job, free of Celery: read the CV, rewrite it with contact details
hidden from the model, check what the rewrite claims, store the response."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from jobs.analysis import AnalysisInput
from jobs.core.names import Stage
from jobs.core.outcome import Outcome, Writes
from jobs.core.outputs import AIResponse, Usage, save_response
from jobs.core.records import JobRecord
from jobs.cv.claims import unverified_claims
from jobs.cv.privacy import Redactor
from jobs.engines import Engine, ImproveRequest
from jobs.engines.answers import require_words, unfinished_because
from jobs.engines.base import Advice, Finish
from jobs.engines.coalesce import coalesce
from jobs.work.analyze_cv import analyze_and_store
from jobs.work.context import WorkerContext
from jobs.work.run import JobRun

# Progress bands: the output's share is estimated from the CV's length, since a rewrite is
# usually about as long as its source.
GENERATING_FROM, GENERATING_TO = 10, 95


def improve_cv(run: JobRun, ctx: WorkerContext, job: JobRecord) -> Outcome:
    request = ImproveRequest(**job.input)
    source = AnalysisInput(request.cv_text, request.position, request.job_description)
    writes = Writes()
    analysis_id = analyze_and_store(
        run, ctx, job, source, progress_to=GENERATING_FROM - 2, writes=writes, passing=True
    )
    answer = rewrite(run, request, ctx.engine, ctx.settings.stream_flush_chars, ctx.settings.stream_flush_ms)
    text, usage = answer.text, answer.usage
    limit = ctx.settings.response_max_chars
    cuts = [cut for cut in (unfinished_because(answer.finish_reason), _size_cut(len(text), limit)) if cut]
    truncated = bool(cuts)
    # SUCCEEDED follows at once, and replaces it unless storing the response is slow (see run.py).
    run.progress(GENERATING_TO, Stage.FINALIZING, f"Generated {len(text)} characters", passing=True)
    response = AIResponse(
        id=str(uuid.uuid4()),
        owner=job.owner,
        questionnaire_id=request.questionnaire_id,
        job_id=run.job_id,
        text=text[:limit],
        model=ctx.engine.model,
        created_at=time.time(),
        usage=usage,
        unverified_claims=unverified_claims(request.cv_text, text[:limit]),
        truncated=truncated,
        advice=answer.advice,
    )
    save_response(writes, ctx.keys, response)
    result = {
        "text": response.text,
        "model": response.model,
        "response_id": response.id,
        "analysis_id": analysis_id,
    }
    return Outcome(result, writes, message="; ".join(["Done", *cuts]))


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # the CV only
    advice: list[str]
    usage: Usage | None
    finish_reason: str | None  # None: the engine never said how the answer ended


def rewrite(
    run: JobRun, request: ImproveRequest, engine: Engine, flush_chars: int, flush_ms: int
) -> Answer:
    """Stream the engine's rewrite as output events, its advice kept apart; the model sees
    placeholders for contact details (jobs/cv/privacy.py), the user sees them restored. An answer
    without words raises `EmptyAnswer` (jobs/engines/answers.py)."""
    redactor = Redactor()
    hidden = replace(
        request,
        cv_text=redactor.redact(request.cv_text),
        prompt=redactor.redact(request.prompt) if request.prompt else None,
    )
    # Carried by the first OUTPUT, or written on its own if the model is slow to begin (see run.py).
    run.progress(
        GENERATING_FROM,
        Stage.GENERATING,
        f"Rewriting for {request.position} with {engine.model}",
        passing=True,
    )
    expected = max(len(request.cv_text), 1)
    produced: list[str] = []
    size = 0
    usage: list[Usage] = []
    finish: list[Finish] = []
    advice: list[str] = []
    # The steps before were passing (held, not yet written): a cancel since then would only show at
    # the first output, after the model's call had begun. The call is what costs; look first.
    run.ensure_still_running()
    stream = engine.stream(hidden)

    def text_only() -> Any:
        for piece in stream:
            if isinstance(piece, Usage):
                usage.append(piece)
            elif isinstance(piece, Finish):
                finish.append(piece)
            elif isinstance(piece, Advice):
                advice.append(redactor.restore(piece.text))
            else:
                yield piece

    try:
        for delta in coalesce(redactor.restore_stream(text_only()), flush_chars, flush_ms):
            produced.append(delta)
            size += len(delta)
            share = min(size / expected, 1.0)
            run.output(delta, GENERATING_FROM + int(share * (GENERATING_TO - 1 - GENERATING_FROM)))
    finally:
        # Closing the generator closes the model's HTTP stream: a cancelled job stops costing.
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    text = "".join(produced)
    require_words(text, redactor.originals.values())
    return Answer(text, advice, usage[-1] if usage else None, finish[-1].reason if finish else None)


def _size_cut(size: int, limit: int) -> str | None:
    return f"the response keeps the first {limit} of {size} characters" if size > limit else None
