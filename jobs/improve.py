"""The work of an IMPROVE_CV job, free of Celery: stages, streamed output, the result."""

from __future__ import annotations

from typing import Any

from jobs.context import WorkerContext
from jobs.engines import Engine, ImproveRequest
from jobs.engines.coalesce import coalesce
from jobs.names import Stage
from jobs.run import JobRun

# Progress bands: the output's share is estimated from the CV's length, since a rewrite is
# usually about as long as its source.
GENERATING_FROM, GENERATING_TO = 10, 95


def improve_cv(run: JobRun, ctx: WorkerContext, job_input: dict[str, Any]) -> dict[str, Any]:
    settings = ctx.settings
    return rewrite(
        run, ImproveRequest(**job_input), ctx.engine, settings.stream_flush_chars, settings.stream_flush_ms
    )


def rewrite(
    run: JobRun, request: ImproveRequest, engine: Engine, flush_chars: int, flush_ms: int
) -> dict[str, str]:
    run.progress(5, Stage.ANALYZING, f"Reading the CV ({len(request.cv_text.split())} words)")
    run.progress(GENERATING_FROM, Stage.GENERATING, f"Rewriting for {request.position} with {engine.model}")
    expected = max(len(request.cv_text), 1)
    produced: list[str] = []
    size = 0
    stream = engine.stream(request)
    try:
        for delta in coalesce(stream, flush_chars, flush_ms):
            produced.append(delta)
            size += len(delta)
            share = min(size / expected, 1.0)
            run.output(delta, GENERATING_FROM + int(share * (GENERATING_TO - 1 - GENERATING_FROM)))
    finally:
        # Closing the generator closes the model's HTTP stream: a cancelled job stops costing.
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    run.progress(GENERATING_TO, Stage.FINALIZING, f"Generated {size} characters")
    return {"text": "".join(produced), "model": engine.model}
