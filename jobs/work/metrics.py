"""A worker's metrics, and the exporter that serves them (WORKER_METRICS_PORT).

Tasks run in pool processes (prefork) or in the worker's own process (threads), so the worker
uses prometheus-client's multiprocess mode whatever its pool: before anything is measured, the
main process points prometheus-client at a directory of its own; each process then writes its
values to files there, and the exporter (a thread of the main process, which is never forked
after it starts) sums every process's files at each scrape. Counters of a pool process that was
replaced (WORKER_MAX_MEMORY_PER_CHILD_MB) stay counted. The directory is removed at shutdown.

The metrics are made on first use (`worker_metrics()`), never at import: Celery imports the task
modules before the worker's start hook runs, and a metric made before the switch would keep
its values in one process's memory, out of the exporter's sight. With the threads pool the first
jobs start in several threads at once, so the first use is serialised (`_MAKING`): two threads
making the metrics together would register each name twice, and the loser's job died in its
claim with DuplicateTimeseries, left RUNNING with no runner until its lease lapsed.

Labels are the job's kind, its outcome or state, and error codes: never a user, a job id or
anything from a CV.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server, values

# Seconds: from under a tenth of a second (a render) to a model's long answer, and queueing.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class WorkerMetrics:
    queue_wait: Histogram
    run_time: Histogram
    jobs: Counter
    retries: Counter
    redeliveries: Counter
    model_latency: Histogram
    model_errors: Counter
    model_input_tokens: Counter
    model_output_tokens: Counter


_MAKING = threading.Lock()


def worker_metrics() -> WorkerMetrics:
    with _MAKING:
        return _made_once()


@functools.cache
def _made_once() -> WorkerMetrics:
    return WorkerMetrics(
        queue_wait=Histogram(
            "cvi_job_queue_wait_seconds",
            "From a job's creation to its first start on a worker, by kind.",
            ["kind"],
            buckets=DURATION_BUCKETS,
        ),
        run_time=Histogram(
            "cvi_job_run_seconds",
            "One run of a job on a worker, by kind and how the run ended (succeeded, failed, "
            "retrying, stopped: cancelled or taken over, redis_lost).",
            ["kind", "outcome"],
            buckets=DURATION_BUCKETS,
        ),
        jobs=Counter(
            "cvi_jobs",
            "Jobs ended by a worker, by kind, terminal state and error code (empty on success); "
            "cancelled: a cancel that stopped a running job.",
            ["kind", "state", "code"],
        ),
        retries=Counter("cvi_job_retries", "Runs that ended in a retry (transient model errors).", ["kind"]),
        redeliveries=Counter(
            "cvi_job_redeliveries", "Jobs started again after their worker was lost.", ["kind"]
        ),
        model_latency=Histogram(
            "cvi_model_request_seconds",
            "One model request, from the call to the end of its streamed answer or its error.",
            ["code"],
            buckets=MODEL_BUCKETS,
        ),
        model_errors=Counter("cvi_model_errors", "Model requests that failed, by our error code.", ["code"]),
        model_input_tokens=Counter("cvi_model_input_tokens", "Prompt tokens the model server reported."),
        model_output_tokens=Counter(
            "cvi_model_output_tokens", "Completion tokens the model server reported."
        ),
    )


class Exporter:
    """The worker's /metrics, served from its main process on `port` (any path answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.directory = tempfile.mkdtemp(prefix="cvi-worker-metrics-")
        # prometheus-client reads where to write from the environment when a value is made,
        # and forked pool processes inherit both the environment and this switch.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.directory
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.directory, ignore_errors=True)
