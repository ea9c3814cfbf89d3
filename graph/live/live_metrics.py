"""What the live paths measure for /metrics (graph/ops/metrics.py): open connections and live
subscriptions by protocol, and how late each live event reaches its client.

Delivery lag runs from the event's `at` (Redis's clock when the worker's emit script published
it) to the moment this process writes the event's frame. The frame's writer and the subscriber
that took the event from its inbox run in the same task (a WebSocket operation's task, an HTTP
stream's producer), so the event's `at` travels between them in a context variable: an event
replayed from the log never passes an inbox and is never measured, which keeps the histogram to
live deliveries."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from contextvars import ContextVar
from itertools import accumulate

from prometheus_client import REGISTRY, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

WEBSOCKET = "websocket"
HTTP = "http"  # multipart and SSE streams
PROTOCOLS = (WEBSOCKET, HTTP)

OPEN_CONNECTIONS = Gauge(
    "cvi_open_connections", "Open WebSockets and HTTP event streams of this process.", ["protocol"]
)
LIVE_SUBSCRIPTIONS = Gauge(
    "cvi_live_subscriptions",
    "Operations streaming to a client from this process (WebSocket operations, HTTP streams).",
    ["protocol"],
)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LagHistogram(Collector):
    """`cvi_event_delivery_lag_seconds`, observed once per delivered frame.

    prometheus-client's Histogram takes a lock for each bucket and the sum (about 1.2 us a frame,
    8 % of a delivery's CPU); every observation here happens on the event loop's thread, so plain
    integers do, and the figures are read when scraped."""

    NAME = "cvi_event_delivery_lag_seconds"
    HELP = "From a worker's publish of a live event (its `at`, Redis's clock) to its frame written here."

    def __init__(self) -> None:
        # Per protocol: a count per bucket (not cumulative; +Inf last) and the sum of lags.
        self._counts = {protocol: [0] * (len(LAG_BUCKETS) + 1) for protocol in PROTOCOLS}
        self._sums = dict.fromkeys(PROTOCOLS, 0.0)

    def observe(self, protocol: str, lag: float) -> None:
        self._counts[protocol][bisect_left(LAG_BUCKETS, lag)] += 1
        self._sums[protocol] += lag

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.NAME, self.HELP, labels=["protocol"])
        for protocol in PROTOCOLS:
            cumulative = list(accumulate(self._counts[protocol]))
            bounds = [*(repr(bound) for bound in LAG_BUCKETS), "+Inf"]
            family.add_metric([protocol], list(zip(bounds, cumulative, strict=True)), self._sums[protocol])
        yield family


DELIVERY_LAG = LagHistogram()
REGISTRY.register(DELIVERY_LAG)
for _protocol in PROTOCOLS:  # present at 0 from the start, so rates and alerts see them
    OPEN_CONNECTIONS.labels(_protocol)
    LIVE_SUBSCRIPTIONS.labels(_protocol)

# The publish time of the live event this task took last and has not written yet.
_taken_at: ContextVar[float | None] = ContextVar("cvi_taken_at", default=None)


def taken(at: float | None) -> None:
    """A live event (its `at`) left an inbox in this task, or None: what comes next is re-read
    from the log. Only the last one taken counts: one skipped as a duplicate is followed by the
    one whose frame is written."""
    _taken_at.set(at)


def written(protocol: str) -> None:
    """This task has written a frame: the live event it carries, if any, was delivered now."""
    at = _taken_at.get()
    if at is not None:
        _taken_at.set(None)
        DELIVERY_LAG.observe(protocol, max(0.0, time.time() - at))
